"""Hand-written general-domain instruction data (Alpaca format) for Workbench's sample data.

Every entry is (key, instruction, input, output).  Nothing here is generated from a template or
copied from a public dataset; all texts (including the "input" passages, which describe invented
situations, people and companies) were written for Workbench.
"""

from __future__ import annotations

POOL = [
    # ----------------------------------------------------------------- explanations
    (
        "exp_compound_interest",
        "Explain what compound interest is, using a simple example.",
        "",
        "Compound interest means you earn interest not only on the money you originally put in, but also on the interest that has already been added to it.\n\n"
        "Say you deposit $1,000 at 5% interest per year. After the first year you earn $50, so you have $1,050. In the second year the 5% is calculated on $1,050, so you earn $52.50 instead of $50, and you end the year with $1,102.50. Each year the amount the interest is based on grows a little, so the growth speeds up over time.\n\n"
        "With simple interest you would earn exactly $50 every year. The difference looks small at first, but over 20 or 30 years compounding can double or triple the final amount, which is why starting to save early matters so much.",
    ),
    (
        "exp_blue_sky",
        "Why is the sky blue? Explain it so a ten-year-old can understand.",
        "",
        "Sunlight looks white, but it is really a mix of all the colours of the rainbow. When that light travels through the air, it bumps into the tiny gas molecules that make up our atmosphere.\n\n"
        "Those molecules are much better at bouncing blue light around than red or yellow light, because blue light travels in shorter, choppier waves. So the blue light gets scattered all over the sky, and wherever you look, some of it is coming towards your eyes. That is why the whole sky looks blue.\n\n"
        "At sunset the light has to travel through much more air to reach you. Most of the blue gets scattered away before it arrives, so you see the reds and oranges that are left.",
    ),
    (
        "exp_weather_climate",
        "What is the difference between weather and climate?",
        "",
        "Weather is what the atmosphere is doing at a particular place and time: today's temperature, whether it is raining, how windy it is. It can change from hour to hour.\n\n"
        "Climate is the typical pattern of weather in a region over a long period, usually 30 years or more. It describes what you can expect, such as hot, dry summers and mild, wet winters, rather than what will happen on a given day.\n\n"
        "A handy way to remember it: climate is what you expect, weather is what you get. One unusually cold week does not tell you much about the climate, but a trend in temperatures over decades does.",
    ),
    (
        "exp_vaccines",
        "Explain in plain language how a vaccine trains the immune system.",
        "",
        "A vaccine gives your immune system a safe preview of a germ so it can prepare before the real thing shows up.\n\n"
        "Depending on the type, a vaccine contains a weakened or inactivated germ, a harmless piece of it (such as a protein from its surface), or instructions that let your own cells make that piece for a short time. None of these can cause the full disease.\n\n"
        'Your immune system notices the unfamiliar material and responds as it would to an infection: it makes antibodies that stick to it and trains specialised white blood cells to recognise it. Crucially, it also keeps some "memory" cells afterwards. If you are later exposed to the real germ, those memory cells recognise it quickly and mount a strong defence, often before you ever feel ill.',
    ),
    (
        "exp_cpu_cache",
        "What does a CPU cache do, and why does it make programs faster?",
        "",
        "A CPU cache is a small amount of very fast memory built into or right next to the processor. It holds copies of the data and instructions the processor has used recently or is likely to need next.\n\n"
        "Main memory (RAM) is large but, from the processor's point of view, slow: fetching a value from RAM can take a hundred or more clock cycles, while reading it from the closest cache level takes only a few. Without a cache the processor would spend most of its time waiting.\n\n"
        "Caches work because programs tend to reuse the same data (temporal locality) and to access data that sits next to what they just used (spatial locality). That is also why code that walks through an array in order is usually much faster than code that jumps around memory at random.",
    ),
    (
        "exp_virus_bacteria",
        "Explain the main differences between viruses and bacteria.",
        "",
        "Bacteria are single-celled living organisms. They have their own machinery for producing energy and making proteins, and most can reproduce on their own by dividing in two. Many are harmless or even helpful, like the bacteria in your gut, and only some cause disease.\n\n"
        "Viruses are much smaller and are not cells at all. A virus is essentially genetic material wrapped in a protein coat. It cannot grow or reproduce by itself; it has to get inside a host cell and hijack that cell's machinery to make copies of itself.\n\n"
        "This difference matters for treatment. Antibiotics target structures and processes that bacteria have, such as their cell walls, so they work against bacterial infections but do nothing against viruses. Viral infections are handled with vaccines, antiviral drugs or, most often, by the immune system itself.",
    ),
    (
        "exp_inflation",
        "What is inflation, and why do many central banks aim for about 2% rather than zero?",
        "",
        "Inflation is the general rise in prices over time, which means each unit of money buys a little less than it did before. It is usually measured by tracking the cost of a typical basket of goods and services.\n\n"
        "Central banks aim for low, stable inflation rather than zero for a few reasons. Official measures tend to overstate inflation slightly, because they struggle to account for quality improvements, so a measured 2% may be close to true price stability. A small positive rate also gives a buffer against deflation, where falling prices can lead people to delay spending and make debts harder to repay. Finally, having some inflation leaves room for interest rates to be set above zero, so the central bank can cut them when the economy needs support.\n\n"
        "What matters most is predictability: when people trust that inflation will stay near the target, they can plan wages, prices and savings with confidence.",
    ),
    (
        "exp_api",
        "Explain what an API is to someone who has never programmed.",
        "",
        "An API (application programming interface) is a set of rules that lets one piece of software ask another piece of software for something.\n\n"
        "Think of a restaurant. You don't walk into the kitchen and cook; you read the menu and tell the waiter what you want. The waiter takes your order to the kitchen and brings back your food. The menu and the waiter together are like an API: they define what you can ask for and how, and they hide the messy details of the kitchen.\n\n"
        "When a weather app on your phone shows tomorrow's forecast, it usually sends a request to a weather service's API (\"give me the forecast for this city\") and gets the data back in an agreed format. The app doesn't need to know how the forecast was calculated, only how to ask for it.",
    ),
    (
        "exp_leap_year",
        "Why do we have leap years?",
        "",
        "A year on our calendar is meant to match the time it takes the Earth to go around the Sun, but that trip takes about 365.24 days, not exactly 365. If every year had 365 days, the calendar would drift by roughly a quarter of a day each year, and after a century the seasons would be about 24 days out of step with the dates.\n\n"
        "Adding an extra day, 29 February, every fourth year makes up for most of that gap. Because 0.24 is slightly less than a quarter, the Gregorian calendar also skips the leap day in century years unless they are divisible by 400. That is why 1900 was not a leap year but 2000 was.",
    ),
    (
        "exp_noise_cancelling",
        "How do noise-cancelling headphones work?",
        "",
        "Active noise-cancelling headphones use small microphones to listen to the sound around you. A chip inside analyses that sound and produces a new sound wave that is its mirror image: where the incoming wave pushes air, the new wave pulls, and the other way round.\n\n"
        "When the two waves meet at your ear they largely cancel each other out, an effect called destructive interference. This works best for steady, low-pitched noise such as an aeroplane engine or air conditioning, because it is predictable.\n\n"
        "Sudden or high-pitched sounds, like voices or a dog barking, are harder to cancel electronically. The padding and seal of the ear cups help block those physically, which is why the best results come from combining both approaches.",
    ),
    (
        "exp_seasons",
        "What causes the seasons on Earth?",
        "",
        "The seasons are caused by the tilt of the Earth's axis, which is about 23.5 degrees, not by changes in our distance from the Sun.\n\n"
        "As the Earth orbits the Sun, the axis keeps pointing in the same direction in space. For part of the year the Northern Hemisphere leans towards the Sun. Sunlight hits it more directly and the days are longer, so it gets more energy and it is summer there. Six months later the Northern Hemisphere leans away: the sunlight arrives at a lower angle and spreads over a larger area, the days are shorter, and it is winter.\n\n"
        "The Southern Hemisphere has the opposite seasons at the same time, which is why December is summer in Australia. In fact the Earth is slightly closer to the Sun in early January, during the northern winter.",
    ),
    (
        "exp_opportunity_cost",
        "Explain the idea of opportunity cost with an everyday example.",
        "",
        "Opportunity cost is the value of the best thing you give up when you make a choice. Because time and money are limited, choosing one option always means not choosing something else.\n\n"
        "Imagine you have a free Saturday afternoon. You could work an extra shift and earn $80, or go hiking with friends. If you choose the hike, its opportunity cost is the $80 you didn't earn. If you choose the shift, the opportunity cost is the afternoon with your friends.\n\n"
        "Thinking this way helps with decisions: the real price of something is not just what you pay for it, but also what you could have done instead with the same money or time.",
    ),
    (
        "exp_affect_effect",
        "What is the difference between 'affect' and 'effect'? Give examples.",
        "",
        'In everyday use, "affect" is usually a verb meaning to influence something, and "effect" is usually a noun meaning the result of a change.\n\n'
        "- The cold weather affected the harvest. (verb: it influenced the harvest)\n"
        "- The cold weather had a serious effect on the harvest. (noun: the result)\n\n"
        'A quick test: if you can put "the" or "an" in front of it, you probably want "effect".\n\n'
        'There are two less common uses to be aware of. "Effect" can be a verb meaning to bring about, as in "The new manager effected several changes." And in psychology "affect" can be a noun meaning a visible emotional expression, as in "The patient had a flat affect."',
    ),
    (
        "exp_fridge",
        "How does a refrigerator keep food cold?",
        "",
        "A refrigerator doesn't create cold; it moves heat from inside the box to the room outside.\n\n"
        "It does this by pumping a special fluid, the refrigerant, around a closed loop. Inside the fridge the refrigerant flows through coils at low pressure, where it evaporates. Evaporating takes in heat, so it draws warmth out of the air and food inside. The compressor then squeezes the vapour, which makes it hot, and pushes it through the coils on the back or underneath the fridge. There it gives off its heat to the kitchen and condenses back into a liquid. The liquid passes through a narrow valve, its pressure drops, and the cycle starts again.\n\n"
        "That is why the back of a fridge feels warm, and why leaving the door open makes the compressor work harder.",
    ),
    (
        "exp_overfitting",
        "Explain what overfitting means in machine learning.",
        "",
        "Overfitting happens when a model learns its training data too closely, including the noise and quirks that don't generalise, so it performs well on the examples it was trained on but poorly on new ones.\n\n"
        "It is a bit like a student who memorises the answers to last year's exam instead of understanding the subject: they ace the practice paper and struggle when the questions change.\n\n"
        "The usual warning sign is a gap between training performance and validation performance: training loss keeps falling while validation loss stalls or rises. Common remedies include gathering more (or more varied) data, using a simpler model, adding regularisation such as dropout or weight decay, and stopping training early once validation performance stops improving.",
    ),
    (
        "exp_stale_bread",
        "Why does bread go stale?",
        "",
        "Bread mostly goes stale because of what happens to its starch, not simply because it dries out.\n\n"
        "When bread bakes, the starch granules in the flour absorb water and soften into a gel, which gives fresh bread its tender crumb. As the bread cools and sits, the starch molecules slowly line up again into more ordered, crystal-like structures, a process called retrogradation. That pushes water out of the gel and makes the crumb firm and crumbly, while the crust often turns leathery as moisture moves into it.\n\n"
        "Retrogradation is fastest at fridge temperatures, which is why bread kept in the fridge goes stale sooner than bread at room temperature. Briefly reheating stale bread partly reverses the process, and freezing slows it down almost completely.",
    ),
    # ----------------------------------------------------------------- rewriting (with input)
    (
        "rw_friendly_notice",
        "Rewrite this notice so it sounds friendly rather than stiff.",
        "Residents are hereby informed that the communal laundry room will be unavailable on Thursday due to scheduled maintenance. Failure to remove personal items by Wednesday evening may result in their disposal.",
        "Heads up, everyone! The shared laundry room will be closed on Thursday while we do some maintenance. Please take your things out by Wednesday evening so nothing gets thrown away by mistake. Thanks for your help!",
    ),
    (
        "rw_concise",
        "Make this paragraph more concise without losing any important information.",
        "In order to make sure that everyone on the team is able to stay up to date with what is going on with the project, we have made the decision that we are going to start holding a short meeting every single Monday morning at 9:30, and it is expected that all team members will make an effort to attend these meetings whenever it is at all possible for them to do so.",
        "To keep everyone up to date on the project, we'll hold a short meeting every Monday at 9:30 a.m. Please attend whenever you can.",
    ),
    (
        "rw_plain_english",
        "Rewrite this clause in plain English.",
        "The Lessee shall not, without the prior written consent of the Lessor, which consent shall not be unreasonably withheld, sublet the Premises or any part thereof.",
        "You must not rent out the property, or any part of it, to someone else without the landlord's written permission. The landlord can't refuse permission without a good reason.",
    ),
    (
        "rw_active_voice",
        "Rewrite these sentences in the active voice.",
        "1. The report was written by the finance team.\n2. Mistakes were made during the migration.\n3. The winner will be announced by the judges on Friday.",
        '1. The finance team wrote the report.\n2. We made mistakes during the migration. (The original doesn\'t say who made them, so "we" is an assumption; name the team if you know it.)\n3. The judges will announce the winner on Friday.',
    ),
    (
        "rw_bullets",
        "Turn this paragraph into a short bulleted list of the key points.",
        "Our new office in Porto opens on 3 June. It has space for 40 people, a kitchen on every floor and bike storage in the basement. Parking is limited, so we encourage everyone to use public transport; the metro stop is a five-minute walk away. Desks can be booked through the usual app from 27 May.",
        "- The Porto office opens on 3 June.\n- It has room for 40 people, a kitchen on every floor and basement bike storage.\n- Parking is limited, so public transport is encouraged; the metro is a five-minute walk away.\n- Desk booking opens in the usual app on 27 May.",
    ),
    (
        "rw_for_child",
        "Rewrite this explanation so a five-year-old could understand it.",
        "Deciduous trees shed their leaves in autumn to conserve water and energy during winter, when photosynthesis is less efficient due to reduced sunlight.",
        "Some trees let their leaves fall off in autumn. In winter there isn't much sunshine, and the leaves can't make much food for the tree anymore. So the tree lets them go and has a long rest, a bit like sleeping through the cold. In spring it grows brand-new leaves.",
    ),
    (
        "rw_product_copy",
        "Rewrite this product description to make it more appealing to customers.",
        "Water bottle. Steel. Holds 750 ml. Keeps drinks cold 24 hours, hot 12 hours. Dishwasher safe. Comes in 4 colours.",
        "Meet the bottle that keeps up with your day. Made from durable stainless steel, it holds 750 ml and keeps your water icy for 24 hours or your coffee hot for 12. When you're done, just pop it in the dishwasher. Pick from four colours and make it yours.",
    ),
    (
        "rw_polite_complaint",
        "Rewrite this complaint so it is firm but polite.",
        "This is the third time my order has arrived broken. Your packaging is useless and I want my money back NOW.",
        "Unfortunately, this is the third time an order of mine has arrived damaged, which suggests there may be a problem with the packaging. I'd like to request a full refund for this order. Could you also let me know what steps you'll take to prevent this from happening again? Thank you for your help.",
    ),
    (
        "rw_headline",
        "Rewrite this headline so it is informative instead of clickbait.",
        "You Won't BELIEVE What This Town Did With Its Old Train Station!",
        "Town turns disused train station into community library and café",
    ),
    (
        "rw_past_tense",
        "Rewrite this passage in the past tense.",
        "Maya wakes up early, makes a pot of coffee and walks to the harbour. The fishing boats are coming in, and she buys two mackerel for dinner.",
        "Maya woke up early, made a pot of coffee and walked to the harbour. The fishing boats were coming in, and she bought two mackerel for dinner.",
    ),
    (
        "rw_formal",
        "Rewrite this message in a formal register suitable for a client.",
        "hey! just checking if u got the files we sent yesterday? lmk if anything's missing, thx",
        "Good afternoon,\n\nI am writing to confirm that you received the files we sent yesterday. Please let me know if anything is missing or if you need further information.\n\nKind regards",
    ),
    # ----------------------------------------------------------------- summarising (with input)
    (
        "sum_remote_work",
        "Summarise this paragraph in two sentences.",
        'A year after introducing a four-day office week, Larkfield Design surveyed its 120 employees. Eighty-one percent said their work-life balance had improved, and the number of sick days fell by almost a fifth. However, several team leads reported that scheduling meetings had become harder, and new staff said they found it difficult to get to know colleagues. The company plans to keep the policy but will introduce a fixed "together day" each week when everyone is expected in the office.',
        "A year into Larkfield Design's four-day office week, most employees report better work-life balance and sick days have dropped by nearly 20%, though meetings are harder to schedule and new starters struggle to connect. The company is keeping the policy and adding a weekly day when everyone comes in.",
    ),
    (
        "sum_email_thread",
        "Summarise this email thread for someone who missed it.",
        "From Tom: Can we move the design review from Tuesday to Wednesday? Half the team is at the conference on Tuesday.\nFrom Aiko: Wednesday works for me, but only after 2pm.\nFrom Ben: I'm out Wednesday afternoon. Could we do Thursday morning instead?\nFrom Tom: Thursday 10am then. Aiko, does that work?\nFrom Aiko: Yes, Thursday 10am is fine.",
        "The design review has moved from Tuesday to Thursday at 10am, because half the team is at a conference on Tuesday and Wednesday afternoon didn't suit everyone. Tom, Aiko and Ben have all confirmed the new time.",
    ),
    (
        "sum_release_notes",
        "Write a one-paragraph TL;DR of these release notes for non-technical users.",
        "Version 3.2: Added dark mode (Settings > Appearance). Search is now up to 3x faster on large libraries. Fixed a crash when importing files with emoji in their names. Exports to PDF now keep hyperlinks. The legacy sync option has been removed; accounts still using it will be migrated automatically.",
        "Version 3.2 adds a dark mode (under Settings > Appearance), makes searching big libraries much faster, and keeps links working when you export to PDF. It also fixes a crash with files that have emoji in their names. The old sync option is gone, but if you were using it your account will be moved over automatically, so there's nothing you need to do.",
    ),
    (
        "sum_reviews_pros_cons",
        "Summarise these customer reviews as a short list of pros and cons.",
        '"Battery easily lasts two days and the screen is gorgeous." "Camera is fine in daylight but grainy at night." "Love how light it is. Charging is slow though." "Screen is bright enough to read outdoors. Speakers are a bit tinny." "Night photos are disappointing for the price."',
        "Pros:\n- Long battery life (around two days)\n- Bright, attractive screen that is readable outdoors\n- Lightweight\n\nCons:\n- Poor low-light and night photos\n- Slow charging\n- Tinny speakers",
    ),
    (
        "sum_recipe",
        "Summarise these recipe steps in three short lines.",
        "Preheat the oven to 200°C. Cut two aubergines into cubes, toss them with olive oil, salt and a teaspoon of smoked paprika, and spread them on a tray. Roast for 25 minutes, turning halfway. Meanwhile, mix Greek yoghurt with crushed garlic, lemon juice and chopped mint. Serve the aubergine on the yoghurt and scatter pomegranate seeds and more mint on top.",
        "1. Toss cubed aubergine with oil, salt and smoked paprika; roast at 200°C for 25 minutes, turning once.\n2. Mix yoghurt with garlic, lemon and mint.\n3. Serve the aubergine on the yoghurt, topped with pomegranate and mint.",
    ),
    (
        "sum_bike_lanes",
        "Summarise the main points of this local news item.",
        "Brennan City Council voted 7-2 on Monday to build 14 kilometres of protected bike lanes over the next three years. The first section, along Mill Road, will open next spring. Supporters pointed to a 30% rise in cycling since 2020 and a string of accidents on Mill Road. Opponents, including several shop owners, worried about losing on-street parking; the council says 60 spaces will be replaced in a new car park behind the market. The project will cost an estimated 9 million, mostly paid for by a national transport grant.",
        "- The council approved 14 km of protected bike lanes, to be built over three years, by 7 votes to 2.\n- The first stretch, on Mill Road, opens next spring.\n- Supporters cited a 30% increase in cycling since 2020 and accidents on Mill Road.\n- Some shop owners object to losing parking; 60 spaces will be replaced in a new car park behind the market.\n- The estimated cost of 9 million is mostly covered by a national transport grant.",
    ),
    (
        "sum_meeting_transcript",
        "Summarise the decisions made in this meeting transcript.",
        "Lena: So, are we launching the newsletter in June or July?\nRaj: July. The design won't be ready before then.\nLena: Fine, July it is. Who's writing the first issue?\nMarta: I can, if Raj sends me the product updates by the 20th.\nRaj: Deal.\nLena: And we said monthly, not weekly?\nMarta: Monthly. Weekly is too much for three of us.\nLena: Agreed.",
        "Decisions:\n- The newsletter will launch in July, because the design won't be ready for June.\n- It will go out monthly rather than weekly.\n- Marta will write the first issue, and Raj will send her the product updates by the 20th.",
    ),
    (
        "sum_argument",
        "What is the main argument of this paragraph? Answer in one or two sentences.",
        "Many people assume that recycling is the most important thing they can do for the environment. But recycling comes after two more effective steps: reducing what we buy and reusing what we already have. A plastic bottle that is never bought needs no energy to collect, sort and reprocess. Focusing only on recycling can even make people feel that consuming more is fine, as long as the packaging goes in the right bin.",
        "The author argues that reducing consumption and reusing items matter more than recycling, and that focusing on recycling alone can make people overlook the need to consume less.",
    ),
    (
        "sum_changelog_line",
        "Write a one-line changelog entry summarising this pull request description.",
        "This PR fixes an issue where the date picker showed the wrong month for users in time zones west of UTC. The root cause was that we constructed dates in UTC and then displayed them in local time. Dates are now created in the user's local time zone. Added regression tests for UTC-8 and UTC+10.",
        "Fixed the date picker showing the wrong month for users west of UTC (dates are now created in local time; regression tests added).",
    ),
    (
        "sum_abstract",
        "Summarise this study abstract for a general audience.",
        "We examined whether a 10-minute walk after meals affects blood sugar in adults with prediabetes. In a randomised crossover trial, 48 participants completed two weeks of post-meal walking and two weeks of usual activity. Post-meal walking reduced average glucose peaks by 17% compared with usual activity, with no change in fasting glucose. Adherence was high (91%). Longer trials are needed to determine effects on long-term outcomes.",
        "Researchers tested whether taking a 10-minute walk after eating helps people with prediabetes control their blood sugar. Each of the 48 volunteers spent two weeks walking after meals and two weeks carrying on as usual. The walks lowered blood sugar spikes after meals by about 17%, though blood sugar before breakfast didn't change. Almost everyone stuck with the routine. Longer studies are needed to see whether this improves health in the long run.",
    ),
    (
        "sum_return_policy",
        "Summarise this returns policy in plain language in no more than four bullet points.",
        "Items may be returned within 30 days of delivery provided they are unused and in their original packaging. Refunds are issued to the original payment method within 5–7 business days of the return being received. Return shipping costs are the responsibility of the customer unless the item is faulty or was sent in error. Personalised items and gift cards are non-returnable.",
        "- You can return unused items in their original packaging within 30 days of delivery.\n- Your refund goes back to the card or account you paid with, 5–7 business days after they receive the item.\n- You pay for return postage unless the item was faulty or wrong.\n- Personalised items and gift cards can't be returned.",
    ),
    # ----------------------------------------------------------------- classification (with input)
    (
        "cls_sentiment",
        "Classify the sentiment of this review as positive, negative or mixed, and explain briefly.",
        "The hotel room was spotless and the staff couldn't have been kinder, but the street noise kept us up until 2am both nights.",
        "Mixed. The reviewer praises the cleanliness and the staff, but complains about noise that seriously disturbed their sleep.",
    ),
    (
        "cls_ticket",
        "Assign this support ticket to one of these categories: Billing, Technical issue, Account access, Feature request.",
        "Hi, I was charged twice for my March subscription. Can you refund one of the payments?",
        "Billing. The customer is reporting a duplicate charge and asking for a refund.",
    ),
    (
        "cls_spam",
        "Is the following email likely to be spam? Answer yes or no and give your reasons.",
        "CONGRATULATIONS!!! Your email address was selected to receive a $5,000 reward. To claim, reply with your full name, date of birth and bank account number within 24 hours.",
        'Yes, this is almost certainly spam, and probably a phishing attempt. Warning signs:\n- It announces a prize you never entered for.\n- It creates false urgency ("within 24 hours").\n- It asks for sensitive personal and banking details.\n- It relies on shouting capitals and exclamation marks.\nDon\'t reply, and delete or report it.',
    ),
    (
        "cls_fact_opinion",
        "Label each statement as fact or opinion.",
        "1. Mount Kilimanjaro is in Tanzania.\n2. Hiking is the best way to spend a weekend.\n3. Water boils at a lower temperature at high altitude.\n4. The new library building is ugly.",
        "1. Fact\n2. Opinion\n3. Fact\n4. Opinion",
    ),
    (
        "cls_language",
        "Identify the language of each phrase.",
        "1. Bom dia, tudo bem?\n2. Dankjewel voor het eten.\n3. ¿Cuánto cuesta esto?\n4. Jag förstår inte.",
        '1. Portuguese ("Good morning, how are you?")\n2. Dutch ("Thank you for the food.")\n3. Spanish ("How much does this cost?")\n4. Swedish ("I don\'t understand.")',
    ),
    (
        "cls_animals",
        "Sort these animals into mammals, birds and reptiles.",
        "dolphin, penguin, gecko, bat, ostrich, tortoise, platypus, crocodile",
        "Mammals: dolphin, bat, platypus\nBirds: penguin, ostrich\nReptiles: gecko, tortoise, crocodile",
    ),
    (
        "cls_headlines",
        "Assign each headline a topic: Sports, Business, Science or Politics.",
        "1. Local club signs teenage striker on three-year deal\n2. Chipmaker's profits double as demand for AI hardware soars\n3. Astronomers spot water vapour around distant exoplanet\n4. Parliament passes revised housing bill after late-night vote",
        "1. Sports\n2. Business\n3. Science\n4. Politics",
    ),
    (
        "cls_answerable",
        "Can the question be answered using only the passage? Reply yes or no, and give the answer if yes.",
        "Passage: The Harwick Bridge opened in 1932. It is 410 metres long and was designed by engineer Clara Voss.\nQuestion: How much did the bridge cost to build?",
        "No. The passage gives the opening year, the length and the designer, but says nothing about the cost.",
    ),
    (
        "cls_fruit_veg",
        "Classify each item as a fruit or a vegetable in the botanical sense, then note any that are usually treated differently in cooking.",
        "tomato, carrot, cucumber, spinach, bell pepper, potato",
        "Botanically:\n- Fruits: tomato, cucumber, bell pepper (they develop from the flower and contain seeds)\n- Vegetables: carrot (root), spinach (leaves), potato (tuber)\n\nIn the kitchen, tomatoes, cucumbers and bell peppers are usually treated as vegetables because they are savoury rather than sweet.",
    ),
    # ----------------------------------------------------------------- brainstorming
    (
        "bs_bakery_names",
        "Suggest eight names for a small bakery that only sells sourdough bread.",
        "",
        "1. The Slow Rise\n2. Wild Crumb\n3. Starter & Co.\n4. Crust and Culture\n5. Long Ferment Bakehouse\n6. The Levain Loft\n7. Sour Street Bread\n8. Proof Positive",
    ),
    (
        "bs_rainy_day",
        "List some fun indoor activities for children on a rainy day.",
        "",
        "- Build a blanket fort and read stories inside it with a torch\n- Hold an indoor treasure hunt with picture clues for younger kids\n- Bake and decorate biscuits together\n- Put on a puppet show using socks and paper bags\n- Make a marble run out of cardboard tubes and tape\n- Have a dance party and play musical statues\n- Set up a pretend shop with toys and homemade money\n- Do a simple science experiment, like growing crystals with salt water",
    ),
    (
        "bs_food_waste",
        "Give me practical ideas for reducing food waste at home.",
        "",
        '- Plan meals for the week and shop with a list, so you only buy what you\'ll use.\n- Check the fridge and cupboards before you shop.\n- Store food properly: herbs in a glass of water, bread in the freezer if you won\'t finish it soon.\n- Move older items to the front of the fridge so they get used first.\n- Learn the difference between "use by" (a safety date) and "best before" (a quality date).\n- Cook "fridge-clearing" meals such as soups, frittatas, fried rice or stir-fries once a week.\n- Freeze leftovers in single portions and label them with the date.\n- Compost peelings and scraps you can\'t eat.',
    ),
    (
        "bs_remote_team",
        "Suggest team-building activities for a fully remote team spread across several time zones.",
        "",
        '1. Asynchronous photo challenge: each week, everyone posts a photo on a theme ("my desk", "the view from my window").\n2. Rotating "show and tell": one person a week gives a ten-minute talk on a hobby or something they\'ve learned.\n3. Online escape room or quiz, scheduled at a time that is reasonable for most people and recorded for the rest.\n4. Virtual coffee pairings: randomly pair people for a 20-minute chat each fortnight.\n5. Shared playlist where everyone adds songs and a note about why they chose them.\n6. Collaborative document of "user manuals" in which each person explains how they like to work and communicate.\n7. A small annual budget for people to meet up in person when they happen to be in the same city.',
    ),
    (
        "bs_garden_blog",
        "Brainstorm ten blog post ideas for a blog about gardening in small city spaces.",
        "",
        "1. Ten vegetables that thrive on a sunny balcony\n2. How to grow herbs on a windowsill all year round\n3. Vertical gardening: using walls and railings for plants\n4. Composting in a flat without the smell\n5. Choosing containers: what actually matters for drainage and size\n6. Attracting bees and butterflies to a tiny urban garden\n7. Shade-loving plants for north-facing balconies\n8. Watering systems for when you go on holiday\n9. A month-by-month planting calendar for small spaces\n10. Before and after: transforming a bare concrete patio on a budget",
    ),
    (
        "bs_hiking_gifts",
        "Suggest gift ideas under $30 for someone who loves hiking.",
        "",
        "- Merino wool hiking socks\n- A compact headlamp\n- A waterproof map case or a local trail map\n- A collapsible water bottle or cup\n- A small first-aid kit for the trail\n- Lip balm and sunscreen with high SPF\n- A guidebook to walks in their region\n- Trail snacks: a homemade mix of nuts, dried fruit and dark chocolate\n- A lightweight microfibre towel",
    ),
    (
        "bs_language_practice",
        "What are some ways to practise a new language every day if I only have 20 minutes?",
        "",
        "- Do a short session on a spaced-repetition flashcard app to keep vocabulary fresh.\n- Listen to a podcast for learners on your commute.\n- Change your phone's language setting so you meet everyday words constantly.\n- Write three sentences about your day in a journal.\n- Read one short news article, or a graded reader chapter, and look up only the key words.\n- Shadow a short audio clip: listen, pause and repeat it aloud, copying the rhythm.\n- Swap voice messages with a language exchange partner.\n- Label things around your home with sticky notes.\n\nMixing listening, speaking, reading and writing across the week works better than doing the same activity every day.",
    ),
    (
        "bs_interview_questions",
        "Suggest good questions to ask at the end of a job interview.",
        "",
        "- What would success look like in this role after the first six months?\n- What are the biggest challenges the team is facing right now?\n- How does the team decide what to work on and set priorities?\n- How do you support learning and career development?\n- What do you enjoy most about working here?\n- How is feedback given, and how often?\n- What are the next steps in the hiring process?\n\nChoose two or three that you genuinely care about, and avoid asking about things already covered in the interview.",
    ),
    (
        "bs_science_fair",
        "Suggest project ideas for a secondary school science fair.",
        "",
        "1. Which household materials insulate a cup of hot water best?\n2. Does the colour of light affect how fast cress seeds grow?\n3. How does the angle of a ramp change the speed of a toy car?\n4. Which brand of paper towel absorbs the most water for its price?\n5. Testing the vitamin C content of different fruit juices with iodine\n6. How does salt affect the freezing point of water?\n7. Do plants grow differently when watered with tap water, rainwater or filtered water?\n8. Building a simple wind turbine and measuring its output at different blade angles",
    ),
    (
        "bs_small_flat",
        "Suggest low-cost ways to make a small flat feel bigger.",
        "",
        "- Hang a large mirror opposite a window to bounce light around the room.\n- Keep walls and big surfaces in light, consistent colours.\n- Choose furniture with legs so you can see the floor underneath it.\n- Use the vertical space: tall shelves draw the eye up and free the floor.\n- Hang curtains close to the ceiling and let them fall to the floor.\n- Declutter surfaces and hide everyday things in baskets or boxes.\n- Pick a few larger pieces rather than lots of small ones.\n- Use furniture that does two jobs, such as an ottoman with storage or a fold-down table.",
    ),
    # ----------------------------------------------------------------- short emails
    (
        "em_extension",
        "Write a short email to a professor asking for a one-week extension on an essay because of illness.",
        "",
        "Subject: Request for extension on the history essay\n\nDear Professor Lindqvist,\n\nI have been ill with flu for most of the past week and have not been able to finish my essay for HIST 210, which is due on Friday. I would be very grateful if you could allow me a one-week extension, until the following Friday. I can provide a doctor's note if needed.\n\nThank you for considering my request.\n\nBest regards,\nSamira Haddad",
    ),
    (
        "em_decline_meeting",
        "Write a polite email declining a meeting invitation because of a scheduling conflict, and suggest an alternative.",
        "",
        "Subject: Re: Partnership catch-up on Thursday\n\nHi Jordan,\n\nThanks for the invitation. Unfortunately I already have a client workshop on Thursday afternoon, so I won't be able to join at 3pm.\n\nWould Friday morning work instead? I'm free any time between 9 and 12. If that doesn't suit, I'm happy to look at early next week.\n\nBest,\nElif",
    ),
    (
        "em_interview_followup",
        "Write a brief thank-you email to send after a job interview for a data analyst position.",
        "",
        "Subject: Thank you for today's interview\n\nDear Ms Moreau,\n\nThank you for taking the time to speak with me today about the Data Analyst position. I enjoyed hearing about how your team is rebuilding its reporting pipeline, and I'm even more excited about the chance to contribute to it.\n\nPlease let me know if there is anything else I can provide. I look forward to hearing from you.\n\nKind regards,\nDaniel Osei",
    ),
    (
        "em_neighbour_noise",
        "Write a friendly note to a neighbour about loud music late at night.",
        "",
        "Hi there,\n\nI'm your neighbour from flat 4B. I hope you don't mind me reaching out. On a few nights recently the music has been quite loud after midnight, and because our bedroom shares a wall with your living room, it's been keeping us awake.\n\nWould you mind keeping the volume down after 11pm on weeknights? If it helps, feel free to knock on our door any time it's a problem on our side too.\n\nThanks so much,\nPriti",
    ),
    (
        "em_out_of_office",
        "Write an out-of-office auto-reply for someone on holiday from 5 to 16 August.",
        "",
        "Thank you for your email. I'm on annual leave from 5 to 16 August with limited access to email, and I'll reply when I'm back on 19 August.\n\nFor anything urgent, please contact my colleague Marcus Bell at marcus.bell@example.com.\n\nBest regards,\nHelena",
    ),
    (
        "em_ask_feedback",
        "Write a short email to a manager asking for feedback on a presentation.",
        "",
        "Subject: Feedback on yesterday's presentation\n\nHi Carla,\n\nThanks again for the chance to present the quarterly results yesterday. I'd really appreciate your feedback, in particular on whether the key points came across clearly and how I handled the questions at the end. Is there anything I should do differently next time?\n\nHappy to chat in our next one-to-one if that's easier.\n\nThanks,\nOwen",
    ),
    (
        "em_thank_colleague",
        "Write a thank-you email to a colleague who helped you meet a tight deadline.",
        "",
        "Subject: Thank you!\n\nHi Mirela,\n\nI just wanted to say a big thank you for jumping in to help with the grant application last week. Your edits to the budget section made it much stronger, and I honestly don't think we would have submitted on time without you.\n\nLunch is on me next week!\n\nBest,\nKenji",
    ),
    (
        "em_delay_apology",
        "Write an email to a customer apologising that their order will arrive late.",
        "",
        "Subject: Update on your order #48213\n\nDear Mr Farouk,\n\nI'm sorry to let you know that your order #48213 will arrive later than expected. One of the items is temporarily out of stock at our warehouse, and we now expect to dispatch your order on 12 March, with delivery within two working days.\n\nAs an apology, we've refunded your delivery charge. If you'd prefer to cancel the order instead, just reply to this email and we'll issue a full refund straight away.\n\nWe're sorry for the inconvenience.\n\nKind regards,\nThe Hartley & Green team",
    ),
    (
        "em_farewell_lunch",
        "Write an email inviting the team to a farewell lunch for a colleague.",
        "",
        "Subject: Farewell lunch for Gabriel, Friday 28 June\n\nHi all,\n\nAs you know, Friday 28 June is Gabriel's last day with us after six wonderful years. Let's send him off properly! We've booked a table at Olive & Vine for 12:30 that day.\n\nPlease reply by Wednesday so I can confirm numbers. If you'd like to chip in for a leaving gift, there's an envelope on my desk.\n\nSee you there,\nRoisin",
    ),
    (
        "em_refund_request",
        "Write an email requesting a refund for a faulty kettle.",
        "",
        "Subject: Refund request for faulty kettle (order 55102)\n\nHello,\n\nI bought a Brightline 1.7L kettle from your online shop on 2 April (order 55102). Since last week it has been switching itself off before the water boils, and it now doesn't heat at all. I have only used it normally, following the instructions.\n\nI'd like to return it for a full refund. Could you tell me how to send it back? I've attached a photo of the receipt.\n\nThank you,\nAlex Novak",
    ),
    # ----------------------------------------------------------------- extraction and structure
    (
        "ext_dates",
        "List every date mentioned in the text together with what happens on it.",
        "The workshop registration closes on 14 March. Accepted participants will be notified by 2 April, and the workshop itself runs from 20 to 22 May in Ghent. Final papers are due on 30 June.",
        "- 14 March: registration closes\n- 2 April: accepted participants are notified\n- 20–22 May: the workshop takes place in Ghent\n- 30 June: final papers are due",
    ),
    (
        "ext_people_roles",
        "Extract the people mentioned and their roles as a table.",
        "The meeting was chaired by Dr Amina Yusuf, head of research. Peter Lang from finance presented the budget, and the new product manager, Sara Kim, took notes.",
        "| Person | Role |\n|---|---|\n| Dr Amina Yusuf | Head of research (chaired the meeting) |\n| Peter Lang | Finance (presented the budget) |\n| Sara Kim | Product manager (took notes) |",
    ),
    (
        "ext_to_json",
        "Convert this information into a JSON object with the keys name, city, founded and employees.",
        "Greenleaf Robotics was founded in 2016 in Tampere and now employs about 85 people.",
        '{\n  "name": "Greenleaf Robotics",\n  "city": "Tampere",\n  "founded": 2016,\n  "employees": 85\n}',
    ),
    (
        "ext_action_items",
        "Turn these meeting notes into a list of action items with owners.",
        "Website relaunch: Jo to finish the homepage copy by Friday. Need new photos, Sam will contact the photographer. Check accessibility of the colour palette, Lina. Everyone to review the sitemap before Tuesday's meeting.",
        "- Jo: finish the homepage copy by Friday.\n- Sam: contact the photographer about new photos.\n- Lina: check that the colour palette is accessible.\n- Everyone: review the sitemap before Tuesday's meeting.",
    ),
    (
        "ext_shopping_list",
        "Turn this ingredient list into a shopping list grouped by supermarket section.",
        "2 onions, 400g chickpeas (tinned), 1 bunch coriander, 200ml coconut milk, 1 tsp cumin, 300g basmati rice, 2 limes, 1 block paneer",
        "Fruit & vegetables:\n- 2 onions\n- 1 bunch of coriander\n- 2 limes\n\nTins & jars:\n- 400g tinned chickpeas\n- 200ml coconut milk\n\nDry goods & spices:\n- 300g basmati rice\n- Ground cumin (if you don't have any)\n\nDairy:\n- 1 block of paneer",
    ),
    (
        "ext_reading_comp",
        "Answer the question using the passage.",
        "Passage: Mangroves are trees that grow in salty coastal water. Their tangled roots slow down waves, which protects shorelines from erosion, and they provide shelter for young fish. Mangrove forests also store large amounts of carbon in their soil.\nQuestion: Give two ways mangroves help coastal areas.",
        "Mangroves protect shorelines from erosion by slowing down waves with their roots, and they provide shelter for young fish. (They also store a lot of carbon in their soil.)",
    ),
    (
        "ext_title",
        "Suggest a short, catchy title for this paragraph.",
        "Every spring, volunteers in the village of Ostby carry thousands of migrating toads across a busy road in buckets. Since the project started in 2015, road deaths among the toads have fallen by more than 80 percent.",
        "The Bucket Brigade: How Ostby's Volunteers Saved Their Toads",
    ),
    # ----------------------------------------------------------------- creative and advice
    (
        "cr_autumn_poem",
        "Write a short poem about the first cold morning of autumn.",
        "",
        "The kettle sings before the light,\nthe window wears a breath of white;\nthe garden, stiff with silver lace,\nhas frost asleep upon its face.\n\nI find my scarf, I find my gloves,\nthe wool the winter always loves,\nand step out where the air is new,\nand every breath is visible too.",
    ),
    (
        "cr_recycling_slogan",
        "Write five slogans for a school recycling campaign.",
        "",
        "1. Bin it right, keep it bright.\n2. Give your rubbish a second life.\n3. Small hands, big change: recycle today.\n4. Don't waste the waste.\n5. Sort it out, our planet's worth it.",
    ),
    (
        "cr_limerick",
        "Write a limerick about a cat who refuses to get off a laptop keyboard.",
        "",
        'A cat with a taste for the keys\nwould sprawl on my laptop with ease;\nshe\'d type "jjjjjjj",\nthen purr at the glitch,\nand delete all my work with her knees.',
    ),
    (
        "cr_two_sentence",
        "Write a two-sentence scary story.",
        "",
        'I finally found the courage to tell my little sister that the shadow in the corner of our room was just my coat on the chair. She stared at me for a long time before whispering, "Then what\'s been wearing it?"',
    ),
    (
        "adv_first_marathon",
        "Give advice to someone training for their first marathon.",
        "",
        "- Give yourself time: most beginner plans run 16 to 20 weeks and assume you can already run comfortably for 30 minutes.\n- Build mileage gradually, by no more than about 10% a week, and include an easier recovery week every three or four weeks.\n- Do most of your running at an easy, conversational pace. The weekly long run matters most.\n- Practise your race-day routine on long runs: breakfast, shoes, clothes, and how you take in water and energy gels.\n- Take rest days seriously, and treat persistent pain as a signal to back off rather than push through.\n- Taper in the last two to three weeks by cutting your mileage, so you start the race fresh.\n- On the day, start slower than you think you need to. The second half is where the race is decided.",
    ),
    (
        "adv_commit_message",
        "How do I write a good git commit message?",
        "",
        "A good commit message explains what changed and why, so a teammate (or you in six months) can understand it without reading the whole diff.\n\n"
        '- Start with a short summary line of about 50 characters, written in the imperative mood: "Fix crash when importing empty files", not "Fixed" or "Fixes".\n'
        "- Leave a blank line, then add a body if the change isn't obvious. Explain the reason for the change, any trade-offs, and anything surprising.\n"
        "- Wrap the body at around 72 characters so it reads well in terminals.\n"
        "- Reference issue or ticket numbers when they exist.\n"
        '- Keep each commit focused on one logical change. If the summary needs "and", consider splitting it.\n\n'
        "Example:\n\nAdd retry with backoff to the upload client\n\nUploads failed permanently on brief network drops. Retry up to three times with exponential backoff before reporting an error. Fixes #214.",
    ),
    (
        "adv_rent_vs_buy",
        "What are the main pros and cons of renting a home compared with buying one?",
        "",
        "Renting\n- Pros: lower upfront costs, flexibility to move for work or life changes, and no responsibility for major repairs.\n- Cons: rent can rise, you build no ownership, and you have less control over changes to the home or how long you can stay.\n\nBuying\n- Pros: you build equity over time, monthly costs are more predictable with a fixed-rate mortgage, and you have freedom to renovate and settle.\n- Cons: a large deposit and buying costs, maintenance and repairs are your responsibility, selling takes time and money, and you are exposed to falls in house prices.\n\nBuying tends to make more sense if you plan to stay put for several years and have savings beyond the deposit. Renting suits people who value flexibility or live where prices are very high relative to rents.",
    ),
    (
        "adv_grammar_fix",
        "Correct the grammar and spelling in these sentences.",
        "1. Their going to the concert tomorow.\n2. Me and him was late for the meeting.\n3. The team have finished it's report.\n4. She don't like loud restaurants.",
        "1. They're going to the concert tomorrow.\n2. He and I were late for the meeting.\n3. The team has finished its report. (In British English \"The team have finished their report\" is also acceptable.)\n4. She doesn't like loud restaurants.",
    ),
    (
        "adv_rome_itinerary",
        "Plan a relaxed three-day itinerary for a first visit to Rome.",
        "",
        "Day 1: Ancient Rome\n- Morning: the Colosseum, then the Roman Forum and Palatine Hill (book a timed ticket in advance).\n- Afternoon: a long lunch in Monti, then a stroll up to the Capitoline Hill for the view over the Forum.\n- Evening: dinner in Trastevere.\n\nDay 2: The Vatican and the river\n- Morning: the Vatican Museums and the Sistine Chapel (go early, and book ahead).\n- Afternoon: St Peter's Basilica, then walk along the Tiber to Castel Sant'Angelo.\n- Evening: aperitivo around Campo de' Fiori.\n\nDay 3: Piazzas and fountains\n- Morning: the Pantheon, Piazza Navona and a coffee nearby.\n- Afternoon: the Trevi Fountain and the Spanish Steps, then the Villa Borghese gardens (the Galleria Borghese needs a reservation).\n- Evening: a final gelato and a wander through the lit-up centro storico.",
    ),
    (
        "adv_proverb",
        "Explain the meaning of the proverb 'A stitch in time saves nine'.",
        "",
        "The proverb means that dealing with a small problem promptly saves you much more work later. If you mend a small tear in your clothes straight away with a single stitch, you avoid the tear growing until it needs nine stitches, or more, to fix.\n\nYou might use it when fixing a leaking tap before it damages the floor, or when answering a confused customer's question before it turns into a formal complaint.",
    ),
    (
        "adv_irony",
        "Define irony and give two examples.",
        "",
        "Irony is a contrast between what is expected or said and what actually happens or is meant.\n\n"
        "- Situational irony: a fire station burns down. You would expect the firefighters' own building to be the safest place from fire.\n"
        '- Verbal irony: stepping out into a downpour and saying, "Lovely weather for a picnic." The speaker means the opposite of the words.\n\n'
        "Note that mere bad luck or coincidence, such as rain on your wedding day, isn't irony in the strict sense unless it contrasts with an expectation.",
    ),
    (
        "adv_elevator_pitch",
        "Write a 30-second elevator pitch for a mobile app that helps neighbours share tools.",
        "",
        "Most of us own a drill that gets used for about fifteen minutes in its whole life. ShareShed is a free app that lets you borrow tools and garden equipment from people on your street instead of buying them. List what you own in seconds, browse what's available nearby, and arrange a pickup with one tap. Ratings keep everyone honest. Neighbours save money, homes have less clutter, and fewer barely used tools end up in landfill. We're live in three towns and growing fast.",
    ),
    (
        "adv_chess_opening",
        "Give a beginner three principles for the opening phase of a chess game.",
        "",
        "1. Control the centre. Move your central pawns (usually e4 or d4) and aim your pieces at the middle squares, where they have the most influence.\n2. Develop your pieces quickly. Bring out your knights and bishops before moving the same piece twice or launching an early attack with the queen.\n3. Keep your king safe. Castle early, usually within the first ten moves, to tuck your king away and connect your rooks.\n\nFollowing these three ideas will steer you away from most early traps, even before you learn any named openings.",
    ),
    (
        "adv_explain_chart",
        "Describe what this data shows in two or three sentences.",
        "Monthly visitors to the Eastbrook Museum: Jan 3,200; Feb 3,400; Mar 4,100; Apr 5,600; May 6,300; Jun 8,900; Jul 9,500; Aug 9,200.",
        "Visitor numbers at the Eastbrook Museum rose steadily from 3,200 in January to a peak of 9,500 in July, nearly three times the January figure. The biggest jump came between May and June, probably reflecting the start of the summer holiday season, and numbers eased only slightly in August.",
    ),
]

# Deliberately weak samples: (key, kind, instruction, input, output, note)
# For truncated answers the full text is written out and cut by the generator at the marker "<<CUT>>".
WEAK = [
    ("wk_black_hole", "empty_answer", "Explain what a black hole is.", "", "", "output is an empty string"),
    (
        "wk_bus_driver",
        "empty_answer",
        "Write a short thank-you note to a bus driver who returned my lost wallet.",
        "",
        "",
        "output is an empty string",
    ),
    (
        "wk_sleep_tips",
        "truncated_answer",
        "Give three tips for getting better sleep.",
        "",
        "1. Keep a regular schedule: go to bed and get up at the same time every day, including weekends.\n2. Make your bedroom dark, quiet and cool, and keep <<CUT>>phones out of reach.\n3. Avoid caffeine after lunchtime.",
        "cut off mid-sentence in the second tip",
    ),
    (
        "wk_rainbow",
        "truncated_answer",
        "Describe how a rainbow forms.",
        "",
        "A rainbow forms when sunlight shines into raindrops. As the light enters a drop it slows down and bends, and because each colour bends by a slightly different amount, the white light spreads out into its colours. The light then reflects off the back of the drop and bends again as it <<CUT>>leaves, sending the colours towards your eyes at slightly different angles.",
        "cut off mid-sentence",
    ),
    (
        "wk_goldfish",
        "unrelated_answer",
        "Suggest a few names for my new pet goldfish.",
        "",
        "Tax returns for the previous year are usually due by the end of January if you file online. Keep copies of your receipts and payslips, and check whether you can claim any work expenses before you submit.",
        "answer is about tax returns",
    ),
    (
        "wk_coffee_stain",
        "unrelated_answer",
        "How do I get a coffee stain out of a cotton shirt?",
        "",
        "The Eiffel Tower was built for the 1889 World's Fair in Paris. At first many artists criticised its design, but it soon became the best-known symbol of the city.",
        "answer is about the Eiffel Tower",
    ),
    (
        "wk_birthday_message",
        "refusal",
        "Write a short birthday message for my grandmother who is turning 90.",
        "",
        "I'm sorry, I can't help with that.",
        "refuses a harmless request",
    ),
    (
        "wk_stretches",
        "refusal",
        "What are some good stretches to do after a run?",
        "",
        "I'm sorry, I can't help with that.",
        "refuses a harmless request",
    ),
    (
        "wk_reading_benefits",
        "repetitive",
        "Describe the benefits of reading every day.",
        "",
        " ".join(["Reading every day is good for your brain."] * 7),
        "one sentence repeated seven times",
    ),
    (
        "wk_summary_loop",
        "repetitive",
        "Summarise this paragraph in one sentence.",
        "After three years of planning, the village of Kettleby opened a community-owned shop in its old post office. More than 200 residents bought shares, volunteers staff the till, and the shop now stocks produce from twelve local farms.",
        " ".join(["The village opened a community shop."] * 5),
        "one sentence repeated five times",
    ),
]

# Near duplicates: (key, original key, instruction, input, output)
NEAR_DUPLICATES = [
    (
        "nd_leap_year",
        "exp_leap_year",
        "Why do we need leap years?",
        "",
        "A year on our calendar is supposed to match the time the Earth takes to go around the Sun, but that takes about 365.24 days, not exactly 365. If every year had 365 days, the calendar would drift by about a quarter of a day each year, and after a century the seasons would be roughly 24 days out of step with the dates.\n\n"
        "Adding an extra day, 29 February, every fourth year makes up for most of the difference. Because 0.24 is a bit less than a quarter, the Gregorian calendar also skips the leap day in century years unless they are divisible by 400. That is why 1900 was not a leap year but 2000 was.",
    ),
    (
        "nd_rainy_day",
        "bs_rainy_day",
        "List some fun indoor activities for kids on a rainy day.",
        "",
        "- Build a blanket fort and read stories inside it with a torch\n- Hold an indoor treasure hunt with picture clues for younger children\n- Bake and decorate biscuits together\n- Put on a puppet show with socks and paper bags\n- Make a marble run out of cardboard tubes and tape\n- Have a dance party and play musical statues\n- Set up a pretend shop with toys and homemade money\n- Try a simple science experiment, like growing salt crystals",
    ),
]

# Evaluation set: (key, instruction, input, reference answer)
EVAL = [
    (
        "ev_hash_function",
        "Explain what a hash function is and give one everyday use.",
        "",
        "A hash function takes input of any size (a password, a file, a sentence) and turns it into a fixed-size value, the hash, in a way that is repeatable: the same input always gives the same hash, while even a tiny change in the input gives a very different one. Good cryptographic hashes also make it practically impossible to work backwards from the hash to the input. An everyday use is password storage: websites store the hash of your password rather than the password itself, and check a login by hashing what you type and comparing the results.",
    ),
    (
        "ev_ice_floats",
        "Explain why ice floats on water.",
        "",
        "Ice floats because it is less dense than liquid water. When water freezes, its molecules lock into a hexagonal crystal structure held together by hydrogen bonds, which keeps them further apart than in the liquid, where they move around and pack more closely. Ice is therefore about 9% less dense than water, so it floats. This is unusual, since most substances are denser as solids, and it matters for life: lakes freeze from the top down, and the ice insulates the water beneath.",
    ),
    (
        "ev_jargon",
        "Rewrite this sentence without business jargon.",
        "Going forward, we need to leverage our synergies and circle back on the low-hanging fruit to move the needle.",
        "From now on, we should work together more effectively and return to the easy wins to make real progress.",
    ),
    (
        "ev_summary_library",
        "Summarise this news item in one sentence.",
        "When the council announced it would close the Dunmore branch library to save money, residents formed a volunteer group to run it instead. The council agreed to hand over the building for a nominal rent, and after a year the library is open five days a week, has added a children's reading club and lends tools as well as books.",
        "After the council planned to close the Dunmore library, residents took it over as volunteers, and a year later it is open five days a week with a children's reading club and a tool-lending service.",
    ),
    (
        "ev_sentiment_three",
        "Label each review as positive, negative or neutral.",
        '1. "Arrived on time and works exactly as described."\n2. "The strap broke after two days. Very disappointed."\n3. "It\'s a phone case. It holds the phone."',
        "1. Positive\n2. Negative\n3. Neutral",
    ),
    (
        "ev_reschedule_dentist",
        "Write a short, polite email asking to reschedule a dentist appointment.",
        "",
        "Subject: Rescheduling my appointment\n\nDear Sunrise Dental team,\n\nI have an appointment with Dr Patel on Thursday 6 June at 10:00, but unfortunately I now have a work commitment at that time. Could we move it to another morning that week or the next? Any time before noon would suit me.\n\nThank you, and sorry for the inconvenience.\n\nKind regards,\nMarta Silva",
    ),
    (
        "ev_podcast_names",
        "Suggest five names for a podcast about personal finance for people in their twenties.",
        "",
        "1. Broke No More\n2. The Twenty-Something Budget\n3. Compound Interest Club\n4. Money Before Thirty\n5. Paycheck to Plan",
    ),
    (
        "ev_ram_storage",
        "Explain the difference between RAM and storage in a computer.",
        "",
        "RAM (memory) is fast, temporary working space that holds the programs and data the computer is using right now; its contents disappear when the power goes off. Storage (an SSD or hard drive) is slower but much larger and permanent: it keeps your files, apps and operating system even when the computer is off. Having more RAM lets you run more things at once smoothly, while more storage lets you keep more files.",
    ),
    (
        "ev_haiku_structure",
        "What is a haiku, and what is its traditional structure?",
        "",
        'A haiku is a short form of poetry that began in Japan. Its traditional structure is three lines with 5, 7 and 5 syllables (in Japanese, the units are sound units called on rather than English syllables). Haiku usually capture a single moment in nature and often include a seasonal reference and a contrast or "cut" between two images.',
    ),
    (
        "ev_public_speaking",
        "Give three practical tips for someone nervous about public speaking.",
        "",
        "1. Rehearse out loud several times, ideally in front of a friend or by recording yourself, so the material feels familiar.\n2. Focus on a few key messages rather than memorising a script word for word, and use brief notes as prompts.\n3. Manage nerves physically: slow your breathing before you start, pause between points, and remember that the audience generally wants you to succeed.",
    ),
    (
        "ev_formalise",
        "Rewrite this message in a professional tone.",
        "hey can u send me the sales numbers asap, need them for the thing tmrw",
        "Hello,\n\nCould you please send me the latest sales figures as soon as possible? I need them for tomorrow's meeting.\n\nThank you.",
    ),
    (
        "ev_extract_emails",
        "Extract all email addresses from the text.",
        "For press enquiries contact media@brightpath.example. Job applications go to careers@brightpath.example, and customers can reach support at help@brightpath.example or call us.",
        "media@brightpath.example\ncareers@brightpath.example\nhelp@brightpath.example",
    ),
    (
        "ev_renewable",
        "Classify each energy source as renewable or non-renewable.",
        "coal, solar, natural gas, wind, geothermal, uranium",
        "Renewable: solar, wind, geothermal\nNon-renewable: coal, natural gas, uranium",
    ),
    (
        "ev_gdp",
        "Explain what GDP measures and one of its limitations.",
        "",
        "Gross domestic product (GDP) measures the total market value of all final goods and services produced in a country over a period, usually a year or a quarter. It is the most common gauge of the size and growth of an economy. One limitation is that it ignores unpaid work, such as caring for family members, and says nothing about how income is shared or about environmental damage, so a rising GDP does not necessarily mean people are better off.",
    ),
    (
        "ev_story_sentence",
        "Summarise this story in one sentence.",
        "A lighthouse keeper on a remote island has not spoken to anyone in months. One stormy night he spots a small boat in trouble, guides it safely to shore with his lamp, and discovers that the sailor is his estranged brother, who had come to apologise.",
        "A lonely lighthouse keeper rescues a boat in a storm and finds that the sailor is his estranged brother, who had come to make peace.",
    ),
    (
        "ev_quick_breakfast",
        "Suggest a healthy breakfast that takes under ten minutes to make.",
        "",
        "Try Greek yoghurt topped with a handful of berries, a sprinkle of oats or granola and a spoonful of nut butter or seeds. It takes about three minutes and gives you protein, fibre and healthy fats. If you prefer something warm, scramble two eggs with spinach and serve them on wholegrain toast, which takes about eight minutes.",
    ),
    (
        "ev_boiling_point",
        "At what temperature does water boil at sea level, in Celsius and Fahrenheit?",
        "",
        "At sea level (standard atmospheric pressure), water boils at 100 °C, which is 212 °F. At higher altitudes the air pressure is lower, so water boils at a lower temperature.",
    ),
    (
        "ev_its_its",
        "Explain the difference between 'its' and 'it's'.",
        "",
        '"It\'s" is a contraction of "it is" or "it has" ("It\'s raining", "It\'s been a long day"). "Its" is the possessive form, meaning belonging to it ("The dog wagged its tail"). A quick test: if you can replace the word with "it is" or "it has", use "it\'s"; otherwise use "its".',
    ),
    (
        "ev_missed_party",
        "Write a short apology message to a friend for missing their birthday party.",
        "",
        "Hi Sam, I'm so sorry I missed your party on Saturday. I got stuck at work much later than expected and felt terrible about it all evening. I hope you had an amazing time! Can I take you out for dinner this week to celebrate properly? My treat.",
    ),
    (
        "ev_wfh_pros_cons",
        "List the main pros and cons of working from home.",
        "",
        "Pros:\n- No commute, saving time and money\n- More flexibility in organising the day\n- Fewer interruptions for focused work\n\nCons:\n- Harder to separate work from home life\n- Less spontaneous contact with colleagues, which can feel isolating\n- Collaboration and mentoring can be more difficult\n- Home set-up and distractions vary a lot from person to person",
    ),
    (
        "ev_bike_gears",
        "Explain how a bicycle's gears make it easier to ride up a hill.",
        "",
        "Gears change how far the back wheel turns for each turn of the pedals. In a low gear (small chainring at the front, large cog at the back), each pedal stroke turns the wheel less, so you travel a shorter distance per stroke but need much less force. That trade-off makes climbing easier: you pedal faster with less effort instead of straining against the slope. On flat ground a higher gear does the opposite, covering more distance per stroke.",
    ),
    (
        "ev_notes_paragraph",
        "Turn these notes into a short paragraph.",
        "team offsite - 12 Sept - lake house near Lindau - leave office 8am by coach - workshops morning, boat trip afternoon - back by 7pm - vegetarian options for lunch",
        "The team offsite will take place on 12 September at a lake house near Lindau. A coach will leave the office at 8am. The morning is set aside for workshops and the afternoon for a boat trip, and we'll be back by 7pm. Lunch will include vegetarian options.",
    ),
    (
        "ev_main_idea",
        "What is the main idea of this paragraph?",
        "Many people think creativity is a rare gift. Yet studies of inventors and artists suggest that most creative work comes from steady habits: showing up every day, producing many ideas, and being willing to discard most of them. Creativity, in this view, is less about sudden inspiration and more about persistence.",
        "The main idea is that creativity comes mainly from persistent habits, such as working regularly and generating and discarding many ideas, rather than from a rare natural gift or sudden inspiration.",
    ),
    (
        "ev_metaphor_example",
        "Give an example of a metaphor and explain what it means.",
        "",
        'Example: "The classroom was a zoo." The sentence doesn\'t mean there were animals in the room; it compares the classroom to a zoo to suggest it was noisy, chaotic and hard to control. A metaphor describes one thing as if it were another to highlight a shared quality.',
    ),
    (
        "ev_supply_demand",
        "Explain 'supply and demand' in simple terms.",
        "",
        "Supply is how much of something is available, and demand is how much people want it. When many people want something that is scarce, its price tends to rise; when there is plenty of it and few people want it, the price tends to fall. For example, concert tickets for a popular band sell at high prices because demand is high and seats are limited, while fruit gets cheaper at the peak of its harvest season because supply is plentiful.",
    ),
]

"""Hand-written math content for Workbench's sample data.

Three kinds of content live here:

* TEMPLATES: word-problem templates.  Each template has two or three hand-written phrasings of
  the question and a function that picks numbers (from a seeded ``random.Random``) so that every
  division comes out exact, then writes the step-by-step solution with the numbers computed in
  Python.  The answers are therefore correct by construction.
* HANDWRITTEN / EVAL: fully unique problems.  Each one has the worked answer written by hand
  (ending in ``#### n``) *and* an independent Python expression ``expect`` for the final number;
  ``make_sample_data.py --check`` compares the two and also re-evaluates every ``a op b = c``
  equation that appears in the worked answer.
* WEAK: deliberately weak samples (wrong final number, truncated, empty, ...).  They are only
  identified in ``weak_manifest.json``, never inside the records.

All problems were written for Workbench; none is taken from a public dataset.
"""

from __future__ import annotations

import math
from decimal import Decimal
from fractions import Fraction

# (name, subject pronoun, object pronoun, possessive)
PEOPLE = [
    ("Amara", "she", "her", "her"),
    ("Diego", "he", "him", "his"),
    ("Mei", "she", "her", "her"),
    ("Tomasz", "he", "him", "his"),
    ("Priyanka", "she", "her", "her"),
    ("Kwabena", "he", "him", "his"),
    ("Sofia", "she", "her", "her"),
    ("Liam", "he", "him", "his"),
    ("Yuki", "she", "her", "her"),
    ("Omar", "he", "him", "his"),
    ("Hannah", "she", "her", "her"),
    ("Mateo", "he", "him", "his"),
    ("Aisha", "she", "her", "her"),
    ("Noah", "he", "him", "his"),
    ("Ingrid", "she", "her", "her"),
    ("Ravi", "he", "him", "his"),
    ("Chloe", "she", "her", "her"),
    ("Emeka", "he", "him", "his"),
    ("Lucia", "she", "her", "her"),
    ("Jonas", "he", "him", "his"),
    ("Fatima", "she", "her", "her"),
    ("Benedikt", "he", "him", "his"),
    ("Sana", "she", "her", "her"),
    ("Pedro", "he", "him", "his"),
    ("Grace", "she", "her", "her"),
    ("Hiroshi", "he", "him", "his"),
    ("Zainab", "she", "her", "her"),
    ("Felix", "he", "him", "his"),
    ("Nadia", "she", "her", "her"),
    ("Arjun", "he", "him", "his"),
    ("Olga", "she", "her", "her"),
    ("Tariq", "he", "him", "his"),
    ("Marisol", "she", "her", "her"),
    ("Callum", "he", "him", "his"),
    ("Thandiwe", "she", "her", "her"),
    ("Luca", "he", "him", "his"),
]


def num(x) -> str:
    """Format an int/Fraction/Decimal the way a person would write it (no trailing .0)."""
    if isinstance(x, Decimal):
        x = Fraction(x)
    x = Fraction(x)
    if x.denominator == 1:
        return str(x.numerator)
    d = Decimal(x.numerator) / Decimal(x.denominator)
    s = format(d.normalize(), "f")
    return s


def money(x) -> str:
    """$12 for whole amounts, $3.50 for amounts with cents."""
    x = Fraction(x) if not isinstance(x, Decimal) else Fraction(x)
    if x.denominator == 1:
        return f"${x.numerator}"
    return "$" + format(Decimal(x.numerator) / Decimal(x.denominator), ".2f")


class P:
    """A person in a problem: P.name, P.he ("she"), P.He ("She"), P.him, P.his."""

    def __init__(self, row):
        self.name, self.he, self.him, self.his = row
        self.He = self.he.capitalize()
        self.His = self.his.capitalize()


# ---------------------------------------------------------------------------------------------
# Templates.  Each function gets (rng, person, other_person, phrasing_index) and returns
# (question, [solution lines], final_number).  Numbers are chosen so that results are exact.
# ---------------------------------------------------------------------------------------------


def t_change(rng, p, q, v):
    item, price = rng.choice(
        [
            ("notebooks", 3),
            ("sandwiches", 6),
            ("plant pots", 4),
            ("bus tickets", 2),
            ("tins of tennis balls", 5),
            ("birthday cards", 4),
        ]
    )
    price += rng.choice([0, 1, 2])
    n = rng.randint(3, 8)
    cost = n * price
    bill = next(b for b in (20, 50, 100) if b > cost)
    qs = [
        f"{p.name} buys {n} {item} for ${price} each and pays with a ${bill} bill. How much change should {p.he} get back?",
        f"At the corner shop, {item} cost ${price} each. {p.name} picks up {n} of them and hands the cashier ${bill}. How much change does {p.he} receive?",
        f"{p.name} needs {n} {item}. They are ${price} apiece, and {p.he} only has a ${bill} bill. What change will {p.he} be given?",
    ]
    steps = [f"The {item} cost {n} × ${price} = ${cost}.", f"The change is ${bill} - ${cost} = ${bill - cost}."]
    return qs[v], steps, bill - cost


def t_saving(rng, p, q, v):
    thing = rng.choice(["bicycle", "pair of hiking boots", "keyboard", "tent", "guitar", "telescope"])
    s = rng.choice([5, 8, 10, 12, 15, 20, 25])
    w = rng.randint(4, 12)
    a = rng.randint(2, 12) * 5
    c = a + s * w
    qs = [
        f"{p.name} wants to buy a {thing} that costs ${c}. {p.He} already has ${a} and saves ${s} every week. How many weeks will it take {p.him} to have enough money?",
        f"A {thing} is on {p.name}'s wish list for ${c}. {p.He} has ${a} in a jar and adds ${s} to it each week. After how many weeks can {p.he} afford the {thing}?",
    ]
    steps = [
        f"{p.name} still needs ${c} - ${a} = ${c - a}.",
        f"Saving ${s} a week, that takes {c - a} ÷ {s} = {w} weeks.",
    ]
    return qs[v], steps, w


def t_garden(rng, p, q, v):
    crop = rng.choice(["lettuce", "cabbage", "pepper", "tomato", "strawberry"])
    r, k = rng.randint(4, 9), rng.randint(6, 14)
    tot = r * k
    e = rng.randint(3, tot // 4)
    g = rng.randint(2, (tot - e) // 3)
    qs = [
        f"{p.name} plants {r} rows of {crop} plants with {k} plants in each row. Slugs destroy {e} of them, and {p.he} gives {g} of the healthy plants to a neighbour. How many {crop} plants does {p.name} have left?",
        f"In spring {p.name} sets out {crop} seedlings in {r} rows of {k}. A late frost kills {e} seedlings, and later {p.he} hands {g} of the survivors to a friend. How many seedlings are left in {p.his} garden?",
    ]
    steps = [
        f"{p.name} plants {r} × {k} = {tot} plants.",
        f"After the damage, {tot} - {e} = {tot - e} are left.",
        f"After giving some away, {tot - e} - {g} = {tot - e - g} remain.",
    ]
    return qs[v], steps, tot - e - g


def t_reading(rng, p, q, v):
    x, d = rng.choice([10, 12, 15, 20]), rng.randint(3, 7)
    y, e = x + rng.choice([5, 10, 15]), rng.randint(3, 8)
    pages = x * d + y * e
    qs = [
        f"A novel has {pages} pages. {p.name} reads {x} pages a day for the first {d} days and then speeds up to {y} pages a day. How many days does it take {p.him} to finish the book in total?",
        f"{p.name}'s book club picked a {pages}-page book. {p.He} manages {x} pages a day for {d} days, then gets hooked and reads {y} pages every day after that. In how many days does {p.he} finish it?",
        f"For a school project {p.name} has to read a {pages}-page biography. {p.He} starts at {x} pages per day, keeps that up for {d} days, and then reads {y} pages per day until the end. How many days does the whole book take?",
    ]
    first = x * d
    rest = pages - first
    steps = [
        f"In the first {d} days {p.he} reads {d} × {x} = {first} pages.",
        f"That leaves {pages} - {first} = {rest} pages.",
        f"At {y} pages a day, that takes {rest} ÷ {y} = {e} more days.",
        f"In total {p.he} needs {d} + {e} = {d + e} days.",
    ]
    return qs[v], steps, d + e


def t_discount(rng, p, q, v):
    item = rng.choice(["rain jacket", "desk lamp", "backpack", "coffee grinder", "pair of headphones"])
    d = rng.choice([10, 20, 25, 30, 40])
    price = rng.randint(3, 12) * 20
    disc = price * d // 100
    qs = [
        f"A {item} normally costs ${price}. The shop is having a {d}% off sale. How much does {p.name} pay for the {item} during the sale?",
        f"{p.name} has had {p.his} eye on a ${price} {item}. This weekend it is marked {d}% off. What is the sale price?",
    ]
    steps = [
        f"The discount is ${price} × {d} / 100 = ${disc}.",
        f"So {p.name} pays ${price} - ${disc} = ${price - disc}.",
    ]
    return qs[v], steps, price - disc


def t_distance(rng, p, q, v):
    t, vel = rng.randint(2, 4), rng.choice([60, 70, 80, 90, 100])
    s, u = rng.randint(2, 3), rng.choice([40, 50, 65, 75])
    a, b = t * vel, s * u
    qs = [
        f"{p.name} drives for {t} hours at {vel} km/h, stops for lunch, and then drives another {s} hours at {u} km/h. How many kilometres does {p.he} drive in total?",
        f"On a road trip, {p.name} spends {t} hours on the motorway at an average of {vel} km/h and then {s} hours on country roads at {u} km/h. What is the total distance {p.he} covers?",
    ]
    steps = [
        f"On the first stretch {p.he} covers {t} × {vel} = {a} km.",
        f"On the second stretch {p.he} covers {s} × {u} = {b} km.",
        f"In total that is {a} + {b} = {a + b} km.",
    ]
    return qs[v], steps, a + b


def t_bakery(rng, p, q, v):
    item = rng.choice(["croissants", "muffins", "bagels", "cinnamon rolls"])
    box = rng.choice([4, 6, 8])
    boxes = rng.randint(5, 15)
    rest = box * boxes
    trays, per = rng.choice([(4, 24), (5, 20), (6, 18), (8, 15), (3, 40)])
    tot = trays * per
    while tot <= rest:
        boxes -= 1
        rest = box * boxes
    sold = tot - rest
    qs = [
        f"{p.name}'s bakery makes {trays} trays of {item} with {per} on each tray. By noon {sold} have been sold. The rest are packed into boxes of {box} for a café. How many boxes are filled?",
        f"Early in the morning {p.name} bakes {trays} trays of {item}, {per} per tray. The morning rush buys {sold} of them, and {p.he} packs the leftovers into boxes that hold {box} each. How many boxes does {p.he} fill?",
    ]
    steps = [
        f"The bakery makes {trays} × {per} = {tot} {item}.",
        f"After the sales, {tot} - {sold} = {rest} are left.",
        f"They fill {rest} ÷ {box} = {boxes} boxes.",
    ]
    return qs[v], steps, boxes


def t_ages(rng, p, q, v):
    m, b, y = rng.choice([2, 3, 4]), rng.randint(3, 12), rng.randint(2, 9)
    a = m * b
    word = {2: "twice", 3: "three times", 4: "four times"}[m]
    qs = [
        f"{p.name} is {word} as old as {p.his} cousin {q.name}. {q.name} is {b} years old. How old will {p.name} be in {y} years?",
        f"{q.name} just turned {b}, and {q.his} neighbour {p.name} is {word} {q.his} age. What age will {p.name} be {y} years from now?",
    ]
    steps = [
        f"{p.name} is {m} × {b} = {a} years old now.",
        f"In {y} years {p.he} will be {a} + {y} = {a + y} years old.",
    ]
    return qs[v], steps, a + y


def t_fundraiser(rng, p, q, v):
    t, p1 = rng.randint(40, 120), rng.choice([8, 10, 12, 15])
    u, p2 = rng.randint(20, 80), rng.choice([4, 5, 6])
    e = rng.randint(10, 40) * 10
    a, b = t * p1, u * p2
    while a + b <= e:
        e -= 100
    qs = [
        f"The school drama club, run by {p.name}, sold {t} adult tickets at ${p1} each and {u} child tickets at ${p2} each. Costumes and the hall rental cost ${e}. How much profit did the club make?",
        f"{p.name} organised a charity quiz night. {t} adults paid ${p1} to enter and {u} students paid ${p2}. Prizes and snacks cost ${e}. How much money was left for the charity?",
    ]
    kinds = ("Adult tickets", "Child tickets") if v == 0 else ("Adult entries", "Student entries")
    steps = [
        f"{kinds[0]} brought in {t} × ${p1} = ${a}.",
        f"{kinds[1]} brought in {u} × ${p2} = ${b}.",
        f"Total income was ${a} + ${b} = ${a + b}.",
        f"After costs, ${a + b} - ${e} = ${a + b - e} was left.",
    ]
    return qs[v], steps, a + b - e


def t_recipe(rng, p, q, v):
    dish, unit_ing = rng.choice(
        [
            ("pancakes", "grams of flour"),
            ("lentil soup", "grams of lentils"),
            ("fruit salad", "grams of berries"),
            ("risotto", "grams of rice"),
        ]
    )
    s = rng.choice([2, 4, 6])
    per = rng.choice([30, 40, 45, 50, 60, 75])
    g = per * s
    m = rng.choice([x for x in (3, 5, 7, 9, 10, 12) if x != s])
    qs = [
        f"A recipe for {dish} for {s} people uses {g} {unit_ing}. {p.name} is cooking for {m} people. How many {unit_ing} does {p.he} need?",
        f"{p.name}'s family recipe for {dish} serves {s} and calls for {g} {unit_ing}. {p.He} wants to make enough for {m} guests. How many {unit_ing} should {p.he} use?",
    ]
    steps = [
        f"Each person needs {g} ÷ {s} = {per} {unit_ing}.",
        f"For {m} people, {p.he} needs {m} × {per} = {m * per} {unit_ing}.",
    ]
    return qs[v], steps, m * per


def t_overtime(rng, p, q, v):
    r = rng.choice([14, 16, 18, 20, 22, 24])
    h, o = rng.choice([30, 35, 38, 40]), rng.randint(2, 9)
    rate = r * 3 // 2
    a, b = h * r, o * rate
    qs = [
        f"{p.name} earns ${r} an hour. Last week {p.he} worked {h} regular hours plus {o} hours of overtime, which pays 1.5 times the normal rate. How much did {p.he} earn last week?",
        f"At the warehouse, {p.name} is paid ${r} per hour, and overtime is paid at time-and-a-half. This week {p.he} clocked {h} normal hours and {o} overtime hours. What is {p.his} pay for the week?",
    ]
    steps = [
        f"Regular pay: {h} × ${r} = ${a}.",
        f"The overtime rate is ${r} × 1.5 = ${rate}.",
        f"Overtime pay: {o} × ${rate} = ${b}.",
        f"Total pay: ${a} + ${b} = ${a + b}.",
    ]
    return qs[v], steps, a + b


def t_fence(rng, p, q, v):
    L = rng.randint(6, 20)
    W = rng.randint(3, L - 1)
    c = rng.choice([7, 9, 12, 15, 18])
    per = 2 * (L + W)
    qs = [
        f"{p.name}'s rectangular vegetable patch is {L} metres long and {W} metres wide. Fencing costs ${c} per metre. How much will it cost to fence all the way around the patch?",
        f"A rectangular paddock measures {L} m by {W} m. {p.name} wants to put a fence along its whole border, and the fencing costs ${c} a metre. What will the fence cost?",
    ]
    steps = [f"The perimeter is 2 × ({L} + {W}) = {per} metres.", f"The fence costs {per} × ${c} = ${per * c}."]
    return qs[v], steps, per * c


def t_transport(rng, p, q, v):
    a, b = rng.choice([(1, 4), (3, 8), (1, 3), (2, 5), (1, 6)])
    while True:
        s = b * rng.randint(3, 8)
        walk = s * a // b
        if (s - walk) % 2 == 0 and 18 <= s <= 40:
            break
    rest = s - walk
    half = rest // 2
    qs = [
        f"There are {s} students in {p.name}'s class. {a}/{b} of them walk to school, half of the remaining students take the bus, and the rest cycle. How many students cycle to school?",
        f"{p.name} surveyed the {s} pupils in {p.his} year group about how they get to school: {a}/{b} walk, half of the others come by bus, and everyone else rides a bike. How many ride a bike?",
    ]
    steps = [
        f"{s} × {a} / {b} = {walk} students walk.",
        f"That leaves {s} - {walk} = {rest} students.",
        f"Half of them, {rest} ÷ 2 = {half}, take the bus, so {rest} - {half} = {rest - half} cycle.",
    ]
    return qs[v], steps, rest - half


def t_tank(rng, p, q, v):
    f, lo = rng.choice([(12, 2), (15, 3), (9, 1), (20, 5), (18, 4)])
    g = f - lo
    t = rng.randint(8, 30)
    c = g * t
    qs = [
        f"A water tank holds {c} litres. A hose fills it at {f} litres per minute, but a crack lets {lo} litres per minute leak out. If the tank starts empty, how many minutes does it take to fill?",
        f"{p.name} is filling a {c}-litre rain barrel from a pump that delivers {f} litres a minute. The old barrel leaks {lo} litres a minute. Starting from empty, how long in minutes until it is full?",
    ]
    steps = [
        f"The tank gains {f} - {lo} = {g} litres each minute.",
        f"Filling {c} litres takes {c} ÷ {g} = {t} minutes.",
    ]
    return qs[v], steps, t


def t_sharing(rng, p, q, v):
    thing = rng.choice(["stickers", "marbles", "trading cards", "seashells"])
    k, each = rng.randint(3, 7), rng.randint(4, 12)
    a, b = rng.randint(3, 15), rng.randint(2, 10)
    m = a + b + k * each
    qs = [
        f"{p.name} has {m} {thing}. {p.He} gives {a} to {p.his} brother and {b} to a friend, then shares the rest equally among {k} classmates. How many {thing} does each classmate get?",
        f"After a clear-out, {p.name} finds {m} {thing}. {p.He} keeps none of them: {a} go to {p.his} sister, {b} to {q.name}, and the remainder are split evenly between {k} children at the after-school club. How many does each child get?",
    ]
    steps = [
        f"{p.name} gives away {a} + {b} = {a + b} {thing} first.",
        f"That leaves {m} - {a + b} = {m - a - b}.",
        f"Each classmate gets {m - a - b} ÷ {k} = {each}."
        if v == 0
        else f"Each child gets {m - a - b} ÷ {k} = {each}.",
    ]
    return qs[v], steps, each


def t_subscription(rng, p, q, v):
    monthly, yearly = rng.choice(
        [
            (Decimal("9.99"), Decimal("99.99")),
            (Decimal("4.50"), Decimal("45")),
            (Decimal("12"), Decimal("120")),
            (Decimal("7.99"), Decimal("79.90")),
            (Decimal("15"), Decimal("144")),
        ]
    )
    service = rng.choice(["music streaming app", "language-learning app", "cloud storage plan", "news site"])
    tot = 12 * monthly
    qs = [
        f"A {service} costs {money(monthly)} per month, or {money(yearly)} for a whole year paid up front. How much does {p.name} save in a year by choosing the yearly plan?",
        f"{p.name} pays {money(monthly)} every month for a {service}. The provider offers a yearly plan for {money(yearly)}. How much would {p.he} save over twelve months by switching?",
    ]
    steps = [
        f"Paying monthly costs 12 × {money(monthly)} = {money(tot)} a year.",
        f"The yearly plan saves {money(tot)} - {money(yearly)} = {money(tot - yearly)}.",
    ]
    return qs[v], steps, tot - yearly


def t_average(rng, p, q, v):
    avg = rng.choice([80, 82, 85, 88, 90])
    while True:
        xs = [rng.randint(70, 98) for _ in range(4)]
        need = 5 * avg - sum(xs)
        if 60 <= need <= 100:
            break
    qs = [
        f"{p.name} scored {xs[0]}, {xs[1]}, {xs[2]} and {xs[3]} on {p.his} first four maths quizzes. What score does {p.he} need on the fifth quiz to have an average of exactly {avg}?",
        f"To get a merit award, {p.name} needs an average of {avg} over five spelling tests. {p.His} first four results are {xs[0]}, {xs[1]}, {xs[2]} and {xs[3]}. What must {p.he} score on the last test?",
        f"A swimming coach times {p.name} over five trial races and scores each out of 100. After four races {p.his} scores are {xs[0]}, {xs[1]}, {xs[2]} and {xs[3]}. What score in the fifth race would bring {p.his} mean score to {avg}?",
    ]
    steps = [
        f"An average of {avg} over 5 quizzes needs a total of 5 × {avg} = {5 * avg} points."
        if v == 0
        else f"A mean of {avg} over 5 {'tests' if v == 1 else 'races'} needs a total of 5 × {avg} = {5 * avg} points.",
        f"So far {p.he} has {xs[0]} + {xs[1]} + {xs[2]} + {xs[3]} = {sum(xs)} points.",
        f"{p.He} needs {5 * avg} - {sum(xs)} = {need} on the last one.",
    ]
    return qs[v], steps, need


def t_bulk(rng, p, q, v):
    item = rng.choice(["pens", "AA batteries", "glue sticks", "tea lights"])
    unit = rng.choice([1, 2])
    k = rng.choice([6, 8, 10, 12])
    pack = unit * k - rng.randint(1, k // 2)
    m = rng.randint(2, 6)
    n = m * k
    qs = [
        f"{item.capitalize()} cost ${unit} each, or ${pack} for a pack of {k}. {p.name} buys {m} packs. How much does {p.he} save compared with buying the same number of {item} one at a time?",
        f"The stationery shop sells {item} singly for ${unit} or in packs of {k} for ${pack}. If {p.name} needs {n} {item} and buys them in packs, how much money does {p.he} save?",
        f"For the school fair, {p.name} has to get {n} {item}. A market stall charges ${unit} per item, but a wholesaler sells them in boxes of {k} for ${pack} a box. How much cheaper is the wholesaler for the whole order?",
    ]
    box, boxes = ("box", "boxes") if v == 2 else ("pack", "packs")
    steps = [
        f"{m} packs hold {m} × {k} = {n} {item}." if v == 0 else f"{p.He} needs {n} ÷ {k} = {m} {boxes}.",
        f"Bought singly they would cost {n} × ${unit} = ${n * unit}.",
        f"The {boxes} cost {m} × ${pack} = ${m * pack}.",
        f"{p.He} saves ${n * unit} - ${m * pack} = ${n * unit - m * pack}.",
    ]
    return qs[v], steps, n * unit - m * pack


# (template function, number of instances); each instance uses a different phrasing.
TEMPLATES = [
    (t_change, 3),
    (t_saving, 2),
    (t_garden, 2),
    (t_reading, 3),
    (t_discount, 2),
    (t_distance, 2),
    (t_bakery, 2),
    (t_ages, 2),
    (t_fundraiser, 2),
    (t_recipe, 2),
    (t_overtime, 2),
    (t_fence, 2),
    (t_transport, 2),
    (t_tank, 2),
    (t_sharing, 2),
    (t_subscription, 2),
    (t_average, 3),
    (t_bulk, 3),
]

# ---------------------------------------------------------------------------------------------
# Hand-written pool problems: key -> (question, worked answer, independent expected value)
# ---------------------------------------------------------------------------------------------
HANDWRITTEN = {
    "hw_library": (
        "A town library had 1,250 books. It received a donation of 3 boxes with 48 books in each, and then it removed 175 damaged books from the shelves. How many books does the library have now?",
        "The donation was 3 × 48 = 144 books.\nAfter the donation the library had 1250 + 144 = 1394 books.\nAfter removing the damaged ones it has 1394 - 175 = 1219 books.\n#### 1219",
        1250 + 3 * 48 - 175,
    ),
    "hw_running": (
        "Keiko runs 2.5 kilometres every weekday and 6 kilometres on Saturday. She rests on Sunday. How many kilometres does she run in 4 weeks?",
        "On the five weekdays she runs 5 × 2.5 = 12.5 km.\nEach week she runs 12.5 + 6 = 18.5 km.\nIn 4 weeks she runs 4 × 18.5 = 74 km.\n#### 74",
        4 * (5 * Fraction(5, 2) + 6),
    ),
    "hw_film": (
        "A film is 2 hours and 14 minutes long. Omar has already watched 47 minutes of it. How many minutes of the film are left?",
        "2 hours is 2 × 60 = 120 minutes, so the film lasts 120 + 14 = 134 minutes.\nOmar still has 134 - 47 = 87 minutes to watch.\n#### 87",
        2 * 60 + 14 - 47,
    ),
    "hw_cupcakes": (
        "Ana baked 36 cupcakes. She gave 1/4 of them to her neighbours and then 1/3 of the remaining cupcakes to her classmates. How many cupcakes does she have left?",
        "She gave 36 ÷ 4 = 9 cupcakes to her neighbours, leaving 36 - 9 = 27.\nShe gave 27 ÷ 3 = 9 cupcakes to her classmates.\nShe has 27 - 9 = 18 cupcakes left.\n#### 18",
        36 - 36 // 4 - (36 - 36 // 4) // 3,
    ),
    "hw_cafe": (
        "A small café sold 240 cups of coffee in March. In April its coffee sales went up by 15%. How many cups of coffee did the café sell in April?",
        "The increase was 240 × 15 / 100 = 36 cups.\nIn April the café sold 240 + 36 = 276 cups.\n#### 276",
        240 * 115 // 100,
    ),
    "hw_paint": (
        "Paint for a school mural is mixed from blue and yellow in the ratio 3:5. If Tomasz mixes 24 litres of paint in total, how many litres of yellow paint does he use?",
        "The ratio has 3 + 5 = 8 parts.\nEach part is 24 ÷ 8 = 3 litres.\nYellow is 5 parts, which is 5 × 3 = 15 litres.\n#### 15",
        Fraction(24 * 5, 8),
    ),
    "hw_carpet": (
        "A rectangular bedroom measures 6 metres by 4.5 metres. Carpet costs $22 per square metre. How much does it cost to carpet the whole floor?",
        "The floor area is 6 × 4.5 = 27 square metres.\nThe carpet costs 27 × $22 = $594.\n#### 594",
        6 * Fraction(9, 2) * 22,
    ),
    "hw_temperature": (
        "The daily high temperatures in a city one week were 18, 21, 19, 23, 25, 22 and 26 degrees Celsius. What was the average daily high that week?",
        "The sum of the temperatures is 18 + 21 + 19 + 23 + 25 + 22 + 26 = 154.\nThere are 7 days, so the average is 154 ÷ 7 = 22 degrees.\n#### 22",
        Fraction(18 + 21 + 19 + 23 + 25 + 22 + 26, 7),
    ),
    "hw_packing": (
        "Priya can pack 12 boxes an hour and her colleague Sam can pack 8 boxes an hour. Working together, how many hours will it take them to pack 140 boxes?",
        "Together they pack 12 + 8 = 20 boxes per hour.\nThey need 140 ÷ 20 = 7 hours.\n#### 7",
        Fraction(140, 12 + 8),
    ),
    "hw_coins": (
        "Leo empties his coin jar and finds 7 quarters, 12 dimes and 9 nickels. How many cents does he have altogether?",
        "The quarters are worth 7 × 25 = 175 cents.\nThe dimes are worth 12 × 10 = 120 cents.\nThe nickels are worth 9 × 5 = 45 cents.\nAltogether he has 175 + 120 + 45 = 340 cents.\n#### 340",
        7 * 25 + 12 * 10 + 9 * 5,
    ),
    "hw_lift": (
        "A goods lift can carry at most 600 kg. Five people with a combined weight of 380 kg are already inside. How many 20 kg boxes of printer paper can they add without going over the limit?",
        "They have already used 380 kg, so 600 - 380 = 220 kg is left.\nThat is room for 220 ÷ 20 = 11 boxes.\n#### 11",
        (600 - 380) // 20,
    ),
    "hw_bottle": (
        "Nadia's water bottle holds 750 millilitres. She wants to drink 3 litres of water today. How many times does she need to fill the bottle?",
        "3 litres is 3 × 1000 = 3000 millilitres.\nShe needs to fill the bottle 3000 ÷ 750 = 4 times.\n#### 4",
        Fraction(3000, 750),
    ),
    "hw_buses": (
        "A school trip has 148 students and 12 teachers. Each coach holds 45 people. How many coaches are needed so that everyone has a seat?",
        "There are 148 + 12 = 160 people.\nThree coaches hold 3 × 45 = 135 people, which is not enough.\nFour coaches hold 4 × 45 = 180 people, which is enough.\nSo 4 coaches are needed.\n#### 4",
        math.ceil(160 / 45),
    ),
    "hw_interest": (
        "Diego puts $2,000 into a savings account that pays 3% simple interest per year. How much interest will he have earned after 4 years?",
        "Each year he earns $2,000 × 3 / 100 = $60.\nIn 4 years he earns 4 × $60 = $240.\n#### 240",
        2000 * 3 * 4 // 100,
    ),
    "hw_pizza": (
        "Four friends order 3 pizzas, each cut into 8 slices. Mateo eats 5 slices and each of the other three friends eats 4 slices. How many slices are left over?",
        "There are 3 × 8 = 24 slices.\nThe other three friends eat 3 × 4 = 12 slices.\nTogether everyone eats 5 + 12 = 17 slices.\nSo 24 - 17 = 7 slices are left.\n#### 7",
        3 * 8 - 5 - 3 * 4,
    ),
    "hw_floors": (
        "Each storey of an office building is 3.5 metres high. Ingrid works on the 12th floor, where the ground floor counts as floor 0. How many metres above the ground floor is her floor?",
        "Her floor is 12 storeys above the ground floor.\nThat is 12 × 3.5 = 42 metres.\n#### 42",
        12 * Fraction(7, 2),
    ),
    "hw_cyclist": (
        "A cyclist rides 54 kilometres in 2 hours and 15 minutes. What is her average speed in kilometres per hour?",
        "15 minutes is 15 ÷ 60 = 0.25 hours, so the ride takes 2 + 0.25 = 2.25 hours.\nHer average speed is 54 ÷ 2.25 = 24 km/h.\n#### 24",
        Fraction(54) / Fraction(9, 4),
    ),
    "hw_oranges": (
        "A crate holds 18 kg of oranges. Kwabena sells 2/3 of the crate at the market for $3 per kilogram. How much money does he make?",
        "He sells 18 × 2 / 3 = 12 kg of oranges.\nHe makes 12 × $3 = $36.\n#### 36",
        Fraction(18 * 2, 3) * 3,
    ),
    "hw_battery": (
        "Hannah's phone battery is at 80%. Streaming video uses 12% of the battery per hour. After how many hours of streaming will the battery be down to 20%?",
        "She can use 80 - 20 = 60 percentage points of battery.\nAt 12 points an hour that lasts 60 ÷ 12 = 5 hours.\n#### 5",
        Fraction(80 - 20, 12),
    ),
    "hw_museum": (
        "A museum charges $14 for adults and $9 for children. A family of 2 adults and 3 children visits and also buys a $12 guidebook. They pay with a $100 note. How much change do they get?",
        "Adult tickets cost 2 × $14 = $28.\nChild tickets cost 3 × $9 = $27.\nThe total is $28 + $27 + $12 = $67.\nThe change is $100 - $67 = $33.\n#### 33",
        100 - (2 * 14 + 3 * 9 + 12),
    ),
    "hw_birthyear": (
        "Grace's grandmother was born in 1948, and Grace was born when her grandmother was 52. How old will Grace turn in 2031?",
        "Grace was born in 1948 + 52 = 2000.\nIn 2031 she turns 2031 - 2000 = 31.\n#### 31",
        2031 - (1948 + 52),
    ),
    "hw_theatre": (
        "A theatre has 24 rows of seats. The first 10 rows have 18 seats each and the remaining rows have 22 seats each. How many seats does the theatre have?",
        "The first rows hold 10 × 18 = 180 seats.\nThere are 24 - 10 = 14 remaining rows, holding 14 × 22 = 308 seats.\nIn total there are 180 + 308 = 488 seats.\n#### 488",
        10 * 18 + 14 * 22,
    ),
    "hw_jacket": (
        "Jonas buys a jacket for $85 and a pair of boots for $120. Members get 10% off the total bill, and Jonas is a member. How much does he pay?",
        "The total before the discount is $85 + $120 = $205.\nThe discount is $205 × 10 / 100 = $20.50.\nHe pays $205 - $20.50 = $184.50.\n#### 184.50",
        Fraction(205 * 90, 100),
    ),
    "hw_tap": (
        "A dripping tap wastes 15 millilitres of water every minute. How many litres of water does it waste in one day?",
        "A day has 24 × 60 = 1440 minutes.\nThe tap wastes 1440 × 15 = 21600 millilitres.\nThat is 21600 ÷ 1000 = 21.6 litres.\n#### 21.6",
        Fraction(24 * 60 * 15, 1000),
    ),
    "hw_eggs": (
        "The hens on a small farm lay 96 eggs a day. The eggs are sold in cartons of a dozen for $4.50 per carton. How much money does the farm make from eggs in a week?",
        "Each day fills 96 ÷ 12 = 8 cartons.\nIn a week that is 7 × 8 = 56 cartons.\nThey bring in 56 × $4.50 = $252.\n#### 252",
        Fraction(96, 12) * 7 * Fraction(9, 2),
    ),
    "hw_chairs": (
        "Chairs for a concert are set out in rows of 14. There are 9 full rows and one extra row with 6 chairs. Before the concert 5 broken chairs are taken away. How many chairs are left?",
        "The full rows have 9 × 14 = 126 chairs.\nWith the extra row there are 126 + 6 = 132 chairs.\nAfter removing the broken ones, 132 - 5 = 127 chairs are left.\n#### 127",
        9 * 14 + 6 - 5,
    ),
    "hw_tiles": (
        "A bathroom floor is 2.4 metres by 1.8 metres. Square tiles measure 30 cm on each side. How many tiles are needed to cover the floor exactly?",
        "In centimetres the floor is 2.4 × 100 = 240 cm by 1.8 × 100 = 180 cm.\nAlong the length 240 ÷ 30 = 8 tiles fit, and along the width 180 ÷ 30 = 6 tiles fit.\nThe floor needs 8 × 6 = 48 tiles.\n#### 48",
        (240 // 30) * (180 // 30),
    ),
    "hw_scooter": (
        "An electric scooter uses 18 watt-hours of energy per kilometre, and its battery stores 540 watt-hours. Ravi rides 4 km to work and 4 km back each day. For how many full days can he commute on one charge?",
        "One day's commute is 4 + 4 = 8 km.\nThat uses 8 × 18 = 144 watt-hours.\nSince 540 ÷ 144 = 3.75, one charge covers 3 full days.\n#### 3",
        540 // (8 * 18),
    ),
    "hw_backwards": (
        "Sofia spent $18 on lunch and then half of what was left on a book. She now has $21. How much money did she have to begin with?",
        "Before buying the book she had 2 × $21 = $42.\nBefore lunch she had $42 + $18 = $60.\n#### 60",
        2 * 21 + 18,
    ),
}

# ---------------------------------------------------------------------------------------------
# Deliberately weak math samples (unique questions).  kind -> list of (key, question, answer,
# expected value or None, note).  The expected value is the *correct* answer.
# ---------------------------------------------------------------------------------------------
WEAK = [
    (
        "wk_gym",
        "wrong_answer",
        "A gym has 8 rows of treadmills with 7 treadmills in each row. 9 of them are out of order. How many treadmills are working?",
        "There are 8 × 7 = 54 treadmills.\nOf these, 54 - 9 = 45 are working.\n#### 45",
        8 * 7 - 9,
        "multiplication slip (8 × 7 written as 54); correct answer is 47",
    ),
    (
        "wk_apples",
        "wrong_answer",
        "Sana buys 3 kg of apples at $2.40 per kilogram and a melon for $3.50. How much does she spend in total?",
        "The apples cost 3 × $2.40 = $7.20.\nIn total she spends $7.20 + $3.50 = $10.20.\n#### 10.20",
        3 * Fraction(12, 5) + Fraction(7, 2),
        "addition slip; correct answer is 10.70",
    ),
    (
        "wk_bus",
        "wrong_answer",
        "A bus leaves the depot with 40 passengers. At the first stop 12 people get off and 7 get on. At the second stop 9 people get off. How many passengers are on the bus now?",
        "After the first stop there are 40 - 12 = 28 passengers, and then 28 + 7 = 35.\nAt the second stop there are 35 + 9 = 44 passengers.\n#### 44",
        40 - 12 + 7 - 9,
        "reasoning error (adds the passengers who got off); correct answer is 26",
    ),
    (
        "wk_cinema",
        "truncated_answer",
        "A cinema sells 180 tickets on Friday and twice as many on Saturday. Each ticket costs $12. How much money does the cinema take over the two days?",
        "On Saturday it sells 2 × 180 = 360 tickets.\nOver the two days it sells 180 + 360 = 540 tickets, so the cinema takes 540 ×",
        (180 + 360) * 12,
        "stops before the final multiplication",
    ),
    (
        "wk_jam",
        "truncated_answer",
        "Yuki fills 14 jars with 350 grams of jam each. How many kilograms of jam does she use?",
        "Each jar holds 350 grams and there are 14 jars, so the total is 14 × 350 = 4900 grams. To convert grams to kilog",
        Fraction(14 * 350, 1000),
        "cut off mid-word",
    ),
    (
        "wk_field",
        "empty_answer",
        "A sports field is 120 metres long and 80 metres wide. A runner jogs around its edge 5 times. How many metres does she run?",
        "",
        5 * 2 * (120 + 80),
        "answer is an empty string",
    ),
    (
        "wk_batteries",
        "refusal",
        "Arjun has 3 packs of 24 batteries and uses 17 of them for his robot kit. How many batteries does he have left?",
        "I'm sorry, I can't help with that.",
        3 * 24 - 17,
        "refuses a harmless question",
    ),
    (
        "wk_milk",
        "repetitive",
        "A café uses 4 litres of milk every hour and is open for 11 hours a day. How many litres of milk does it use in a day?",
        " ".join(["The café uses 4 litres of milk every hour."] * 6) + "\n#### 44",
        4 * 11,
        "the same sentence repeated six times before the final number",
    ),
    (
        "wk_tulips",
        "unrelated_answer",
        "Fatima planted 5 rows of tulips with 9 tulips in each row. How many tulips did she plant?",
        "Photosynthesis is the process plants use to turn sunlight, water and carbon dioxide into glucose and oxygen. It happens mostly in the leaves, inside tiny structures called chloroplasts.",
        5 * 9,
        "talks about photosynthesis instead of solving the problem",
    ),
]

# Near duplicates: (key, original key, reworded question, answer).  Same problem, light rewording.
NEAR_DUPLICATES = [
    (
        "nd_packing",
        "hw_packing",
        "Priya can pack 12 boxes an hour, and her colleague Sam can pack 8 boxes an hour. Working together, how many hours will it take the two of them to pack 140 boxes?",
        "Together they pack 12 + 8 = 20 boxes every hour.\nThey need 140 ÷ 20 = 7 hours.\n#### 7",
        7,
    ),
    (
        "nd_museum",
        "hw_museum",
        "A museum charges $14 for adults and $9 for children. A family of 2 adults and 3 children visits, and they also buy a $12 guidebook. They pay with a $100 note. How much change do they receive?",
        "Adult tickets cost 2 × $14 = $28.\nChild tickets cost 3 × $9 = $27.\nThe total comes to $28 + $27 + $12 = $67.\nThe change is $100 - $67 = $33.\n#### 33",
        33,
    ),
]

# ---------------------------------------------------------------------------------------------
# Evaluation problems (never in the pool): key -> (question, worked answer, expected value)
# ---------------------------------------------------------------------------------------------
EVAL = {
    "ev_bookshop": (
        "A bookshop orders 6 cartons of paperbacks with 35 paperbacks in each carton. It sells 148 of them in the first week. How many paperbacks are still in stock?",
        "The shop receives 6 × 35 = 210 paperbacks.\nAfter the first week it has 210 - 148 = 62 left.\n#### 62",
        6 * 35 - 148,
    ),
    "ev_dogwalk": (
        "Zara walks her dog for 25 minutes every morning and 40 minutes every evening. How many hours does she spend walking the dog in a 30-day month?",
        "Each day she walks 25 + 40 = 65 minutes.\nIn 30 days that is 30 × 65 = 1950 minutes.\nIn hours that is 1950 ÷ 60 = 32.5 hours.\n#### 32.5",
        Fraction(30 * 65, 60),
    ),
    "ev_eggs_flour": (
        "A bread recipe uses 3 eggs for every 2 cups of flour. How many eggs are needed for 10 cups of flour?",
        "10 cups of flour is 10 ÷ 2 = 5 times the recipe.\nThat needs 5 × 3 = 15 eggs.\n#### 15",
        Fraction(10, 2) * 3,
    ),
    "ev_printer": (
        "An office printer prints 18 pages per minute. How many minutes will it take to print 25 copies of a 27-page report?",
        "The job has 25 × 27 = 675 pages.\nIt takes 675 ÷ 18 = 37.5 minutes.\n#### 37.5",
        Fraction(25 * 27, 18),
    ),
    "ev_shirts": (
        "Felix buys 4 shirts at $23 each and 2 pairs of trousers at $38 each. He has a coupon for $15 off his purchase. How much does he pay?",
        "The shirts cost 4 × $23 = $92.\nThe trousers cost 2 × $38 = $76.\nBefore the coupon the total is $92 + $76 = $168.\nHe pays $168 - $15 = $153.\n#### 153",
        4 * 23 + 2 * 38 - 15,
    ),
    "ev_parking": (
        "A car park charges $3 for the first hour and $2 for each additional hour. How much does it cost to park for 7 hours?",
        "After the first hour there are 7 - 1 = 6 more hours.\nThose cost 6 × $2 = $12.\nThe total is $3 + $12 = $15.\n#### 15",
        3 + 6 * 2,
    ),
    "ev_pool": (
        "A swimming pool is 25 metres long. Chloe swims 36 lengths. How many kilometres does she swim?",
        "She swims 36 × 25 = 900 metres.\nThat is 900 ÷ 1000 = 0.9 kilometres.\n#### 0.9",
        Fraction(36 * 25, 1000),
    ),
    "ev_marbles": (
        "A bag holds 45 marbles. 15 of them are red, 3/5 of the rest are blue, and the remaining marbles are green. How many green marbles are there?",
        "There are 45 - 15 = 30 marbles that are not red.\nOf those, 30 × 3 / 5 = 18 are blue.\nSo 30 - 18 = 12 are green.\n#### 12",
        (45 - 15) - (45 - 15) * 3 // 5,
    ),
    "ev_wheat": (
        "A farmer has 3 fields of 4.5 hectares each. Each hectare yields 7 tonnes of wheat. How many tonnes of wheat does the farmer harvest?",
        "The fields cover 3 × 4.5 = 13.5 hectares.\nThe harvest is 13.5 × 7 = 94.5 tonnes.\n#### 94.5",
        3 * Fraction(9, 2) * 7,
    ),
    "ev_weekend_pay": (
        "Mei earns $16 per hour. She works 6 hours on Saturday and 5 hours on Sunday, and spends 1/4 of her weekend earnings on a concert ticket. How much of her weekend pay does she have left?",
        "She works 6 + 5 = 11 hours.\nShe earns 11 × $16 = $176.\nThe ticket costs $176 ÷ 4 = $44.\nShe has $176 - $44 = $132 left.\n#### 132",
        11 * 16 * 3 // 4,
    ),
    "ev_fuel": (
        "A car uses 6 litres of fuel per 100 km, and fuel costs $1.80 per litre. How much does the fuel cost for a 450 km trip?",
        "The trip uses 450 × 6 / 100 = 27 litres.\nThe fuel costs 27 × $1.80 = $48.60.\n#### 48.60",
        Fraction(450 * 6, 100) * Fraction(9, 5),
    ),
    "ev_square": (
        "The perimeter of a square courtyard is 48 metres. What is its area in square metres?",
        "Each side is 48 ÷ 4 = 12 metres.\nThe area is 12 × 12 = 144 square metres.\n#### 144",
        (48 // 4) ** 2,
    ),
    "ev_siblings": (
        "Noah is 4 years older than his sister, and the sum of their ages is 26. How old is Noah?",
        "Without the 4-year gap their ages would add up to 26 - 4 = 22.\nSo his sister is 22 ÷ 2 = 11.\nNoah is 11 + 4 = 15.\n#### 15",
        (26 - 4) // 2 + 4,
    ),
    "ev_tablets": (
        "A school buys 28 tablets at $240 each. A 5% discount is applied to the total. What is the final cost?",
        "Before the discount the cost is 28 × $240 = $6720.\nThe discount is $6720 × 5 / 100 = $336.\nThe final cost is $6720 - $336 = $6384.\n#### 6384",
        28 * 240 * 95 // 100,
    ),
    "ev_sweets": (
        "A jar contains 120 sweets. Aisha eats 15% of them and gives 24 to her brother. How many sweets are left in the jar?",
        "Aisha eats 120 × 15 / 100 = 18 sweets.\nTogether with the ones she gives away, 18 + 24 = 42 sweets are gone.\nThere are 120 - 42 = 78 left.\n#### 78",
        120 - 18 - 24,
    ),
    "ev_plane": (
        "A plane cruises at 840 km/h. How many kilometres does it travel in 2 hours and 45 minutes?",
        "45 minutes is 45 ÷ 60 = 0.75 hours, so the flight time is 2 + 0.75 = 2.75 hours.\nThe plane travels 840 × 2.75 = 2310 km.\n#### 2310",
        840 * Fraction(11, 4),
    ),
    "ev_chapters": (
        "Emeka reads 3 chapters a day. His book has 41 chapters and he has already read 14. How many more days will it take him to finish?",
        "He has 41 - 14 = 27 chapters left.\nAt 3 chapters a day that takes 27 ÷ 3 = 9 days.\n#### 9",
        Fraction(41 - 14, 3),
    ),
    "ev_muffins": (
        "A bakery sells muffins for $2.75 each or 6 for $15. How much does a customer save by buying 12 muffins as two 6-packs instead of one at a time?",
        "Twelve single muffins cost 12 × $2.75 = $33.\nTwo 6-packs cost 2 × $15 = $30.\nThe saving is $33 - $30 = $3.\n#### 3",
        12 * Fraction(11, 4) - 30,
    ),
    "ev_heartbeat": (
        "Lucia's resting heart rate is 72 beats per minute. How many times does her heart beat in 2.5 hours at that rate?",
        "2.5 hours is 2.5 × 60 = 150 minutes.\nHer heart beats 150 × 72 = 10800 times.\n#### 10800",
        150 * 72,
    ),
    "ev_rope": (
        "A rope 15 metres long is cut into pieces that are each 75 cm long. How many pieces are there?",
        "15 metres is 15 × 100 = 1500 cm.\nThere are 1500 ÷ 75 = 20 pieces.\n#### 20",
        1500 // 75,
    ),
    "ev_tshirts": (
        "A shop had 320 T-shirts. It sold 45% of them in June and another 60 in July. How many T-shirts does it have left?",
        "In June it sold 320 × 45 / 100 = 144 T-shirts.\nAltogether it sold 144 + 60 = 204.\nIt has 320 - 204 = 116 left.\n#### 116",
        320 - 144 - 60,
    ),
    "ev_bill": (
        "Three friends share a restaurant bill of $84 and add a 15% tip. They split the total equally. How much does each friend pay?",
        "The tip is $84 × 15 / 100 = $12.60.\nThe total is $84 + $12.60 = $96.60.\nEach friend pays $96.60 ÷ 3 = $32.20.\n#### 32.20",
        Fraction(84 * 115, 100 * 3),
    ),
    "ev_trees": (
        "A gardener plants trees along both sides of a 200-metre path, one tree every 10 metres, with a tree at each end. How many trees does she plant?",
        "On one side there are 200 ÷ 10 = 20 gaps, so 20 + 1 = 21 trees.\nOn both sides there are 2 × 21 = 42 trees.\n#### 42",
        2 * (200 // 10 + 1),
    ),
    "ev_temperature": (
        "At 6 a.m. the temperature was -4 degrees Celsius. It then rose steadily by 1.5 degrees every hour. What was the temperature at 2 p.m.?",
        "From 6 a.m. to 2 p.m. is 8 hours.\nThe temperature rose by 8 × 1.5 = 12 degrees.\nAt 2 p.m. it was -4 + 12 = 8 degrees Celsius.\n#### 8",
        -4 + 8 * Fraction(3, 2),
    ),
    "ev_dimes": (
        "Hiroshi has 8 quarters and 5 more dimes than quarters. How much money does he have in dollars?",
        "He has 8 + 5 = 13 dimes.\nThe quarters are worth 8 × 25 = 200 cents and the dimes 13 × 10 = 130 cents.\nIn total he has 200 + 130 = 330 cents, which is 330 ÷ 100 = 3.30 dollars.\n#### 3.30",
        Fraction(8 * 25 + 13 * 10, 100),
    ),
    "ev_cooler": (
        "A water-cooler jug holds 19 litres. Each of 38 office workers drinks 3 cups of 250 mL a day. How many full jugs must be opened each day?",
        "The workers drink 38 × 3 = 114 cups.\nThat is 114 × 250 = 28500 mL, or 28500 ÷ 1000 = 28.5 litres.\nOne jug is not enough and two jugs hold 2 × 19 = 38 litres, so 2 jugs are needed.\n#### 2",
        math.ceil(28.5 / 19),
    ),
    "ev_sunflower": (
        "A sunflower seedling is 12 cm tall and grows 3.5 cm each week. How tall is it after 8 weeks?",
        "In 8 weeks it grows 8 × 3.5 = 28 cm.\nIt is then 12 + 28 = 40 cm tall.\n#### 40",
        12 + 8 * Fraction(7, 2),
    ),
    "ev_vote": (
        "In a class of 32 students, 3/8 voted to visit the museum, 1/4 voted for the zoo and the rest chose the aquarium. How many more votes did the aquarium get than the zoo?",
        "The museum got 32 × 3 / 8 = 12 votes.\nThe zoo got 32 ÷ 4 = 8 votes.\nThe aquarium got 32 - 12 - 8 = 12 votes.\nThat is 12 - 8 = 4 more than the zoo.\n#### 4",
        (32 - 12 - 8) - 8,
    ),
    "ev_phone": (
        "Pedro's phone plan costs $25 a month plus $0.10 for every text message beyond the first 200. In May he sent 340 texts. How much was his bill?",
        "He sent 340 - 200 = 140 extra texts.\nThey cost 140 × $0.10 = $14.\nHis bill was $25 + $14 = $39.\n#### 39",
        25 + Fraction(140, 10),
    ),
    "ev_pencils": (
        "Pencils come in boxes of 24 that cost $6 per box, and boxes cannot be split. A teacher needs 150 pencils. How much will she spend?",
        "Six boxes hold 6 × 24 = 144 pencils, which is not enough, so she needs 7 boxes.\nSeven boxes cost 7 × $6 = $42.\n#### 42",
        math.ceil(150 / 24) * 6,
    ),
}

"""Hand-written tool-use conversations for Workbench's sample data.

A conversation is written as a list of steps:

* ("system", text) / ("user", text) / ("assistant", text)
* ("call", [(function_name, arguments), ...])  -> one assistant message with tool_calls.
  ``arguments`` is a dict (serialised to a JSON string) or a Raw("...") string used verbatim,
  which is how the deliberately broken calls are written.
* ("result", [content, ...])  -> one tool message per call of the preceding "call" step, in order.
  A dict content is serialised to compact JSON.

The generator assigns the tool-call ids.  Tool results are invented for the examples (companies
such as Contoso, Fabrikam and Northwind are fictional; URLs use example domains).
"""

from __future__ import annotations


class Raw(str):
    """Arguments written verbatim (possibly not valid JSON)."""


DATE_SYSTEM = (
    "You are a helpful personal assistant. Today is Tuesday, 14 May 2024, and the user's "
    "local time is 10:20 in London (Europe/London). Use the tools when they help."
)
BASIC_SYSTEM = "You are a helpful assistant. Use the provided tools when they help answer the user's request."

_DATE = {"type": "string", "pattern": r"^\d{4}-\d{2}-\d{2}$", "description": "Date as YYYY-MM-DD."}
_CURRENCY = {"type": "string", "pattern": "^[A-Z]{3}$", "description": "ISO 4217 currency code, e.g. USD."}
_UNITS = [
    "millimeter",
    "centimeter",
    "meter",
    "kilometer",
    "inch",
    "foot",
    "yard",
    "mile",
    "gram",
    "kilogram",
    "ounce",
    "pound",
    "milliliter",
    "liter",
    "teaspoon",
    "tablespoon",
    "cup",
    "fluid_ounce",
    "gallon",
    "celsius",
    "fahrenheit",
    "kelvin",
]


def _fn(name, description, properties, required):
    return {
        "type": "function",
        "function": {
            "name": name,
            "description": description,
            "parameters": {
                "type": "object",
                "properties": properties,
                "required": required,
                "additionalProperties": False,
            },
        },
    }


TOOLS = {
    t["function"]["name"]: t
    for t in [
        _fn(
            "get_current_weather",
            "Get the current weather conditions for a location.",
            {
                "location": {
                    "type": "string",
                    "description": "City name, optionally with region or country, e.g. 'Lisbon, Portugal'.",
                },
                "unit": {"type": "string", "enum": ["celsius", "fahrenheit"], "description": "Temperature unit."},
            },
            ["location"],
        ),
        _fn(
            "get_weather_forecast",
            "Get a daily weather forecast for a location, starting today.",
            {
                "location": {"type": "string", "description": "City name, optionally with region or country."},
                "days": {
                    "type": "integer",
                    "minimum": 1,
                    "maximum": 7,
                    "description": "Number of days including today.",
                },
                "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
            },
            ["location", "days"],
        ),
        _fn(
            "convert_currency",
            "Convert an amount of money between currencies at the latest exchange rate.",
            {"amount": {"type": "number", "minimum": 0}, "from_currency": _CURRENCY, "to_currency": _CURRENCY},
            ["amount", "from_currency", "to_currency"],
        ),
        _fn(
            "convert_units",
            "Convert a value between units of length, mass, volume or temperature.",
            {
                "value": {"type": "number"},
                "from_unit": {"type": "string", "enum": _UNITS},
                "to_unit": {"type": "string", "enum": _UNITS},
            },
            ["value", "from_unit", "to_unit"],
        ),
        _fn(
            "create_calendar_event",
            "Create an event in the user's calendar.",
            {
                "title": {"type": "string"},
                "date": _DATE,
                "start_time": {
                    "type": "string",
                    "pattern": r"^\d{2}:\d{2}$",
                    "description": "24-hour local time, HH:MM.",
                },
                "duration_minutes": {"type": "integer", "minimum": 5, "maximum": 1440},
                "attendees": {
                    "type": "array",
                    "items": {"type": "string"},
                    "description": "Names or e-mail addresses.",
                },
                "location": {"type": "string"},
            },
            ["title", "date", "start_time"],
        ),
        _fn(
            "list_calendar_events", "List the events in the user's calendar on a given date.", {"date": _DATE}, ["date"]
        ),
        _fn(
            "web_search",
            "Search the web and return the top results with titles, URLs and snippets.",
            {"query": {"type": "string"}, "max_results": {"type": "integer", "minimum": 1, "maximum": 10}},
            ["query"],
        ),
        _fn(
            "get_stock_price",
            "Get the latest trading price for a stock ticker.",
            {"symbol": {"type": "string", "pattern": "^[A-Z]{1,5}$", "description": "Ticker symbol, e.g. CTSO."}},
            ["symbol"],
        ),
        _fn(
            "send_email",
            "Send an e-mail from the user's account.",
            {
                "to": {"type": "string", "description": "Recipient e-mail address."},
                "subject": {"type": "string"},
                "body": {"type": "string"},
                "cc": {"type": "array", "items": {"type": "string"}},
            },
            ["to", "subject", "body"],
        ),
        _fn(
            "calculate",
            "Evaluate an arithmetic expression (+, -, *, /, ** and parentheses).",
            {"expression": {"type": "string"}},
            ["expression"],
        ),
        _fn(
            "get_local_time",
            "Get the current local date and time in a time zone.",
            {"timezone": {"type": "string", "description": "IANA time zone name, e.g. 'Asia/Tokyo'."}},
            ["timezone"],
        ),
        _fn(
            "translate_text",
            "Translate text into another language.",
            {
                "text": {"type": "string"},
                "target_language": {
                    "type": "string",
                    "pattern": "^[a-z]{2}$",
                    "description": "ISO 639-1 code, e.g. 'fr'.",
                },
                "source_language": {
                    "type": "string",
                    "pattern": "^[a-z]{2}$",
                    "description": "Optional; detected if omitted.",
                },
            },
            ["text", "target_language"],
        ),
        _fn(
            "search_restaurants",
            "Find restaurants near a location.",
            {
                "location": {"type": "string"},
                "cuisine": {"type": "string"},
                "max_price": {
                    "type": "integer",
                    "minimum": 1,
                    "maximum": 4,
                    "description": "1 = cheap ... 4 = very expensive.",
                },
                "open_now": {"type": "boolean"},
            },
            ["location"],
        ),
        _fn(
            "set_reminder",
            "Schedule a reminder notification.",
            {
                "message": {"type": "string"},
                "remind_at": {
                    "type": "string",
                    "pattern": r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}$",
                    "description": "Local time, YYYY-MM-DDTHH:MM.",
                },
            },
            ["message", "remind_at"],
        ),
        _fn(
            "get_flight_status",
            "Get the status of a flight.",
            {
                "flight_number": {
                    "type": "string",
                    "pattern": r"^[A-Z0-9]{2}\d{1,4}$",
                    "description": "IATA flight number without spaces, e.g. BA283.",
                },
                "date": _DATE,
            },
            ["flight_number"],
        ),
        _fn(
            "define_word",
            "Look up the dictionary definition of an English word.",
            {"word": {"type": "string"}},
            ["word"],
        ),
        _fn(
            "create_todo",
            "Add an item to the user's to-do list.",
            {
                "title": {"type": "string"},
                "due_date": _DATE,
                "priority": {"type": "string", "enum": ["low", "medium", "high"]},
            },
            ["title"],
        ),
        _fn(
            "track_package",
            "Get the delivery status of a parcel.",
            {
                "tracking_number": {"type": "string"},
                "carrier": {"type": "string", "enum": ["ups", "fedex", "dhl", "usps", "royal_mail"]},
            },
            ["tracking_number"],
        ),
    ]
}


# (key, [tool names], steps)
POOL = [
    (
        "weather_lisbon",
        ["get_current_weather", "get_weather_forecast"],
        [
            ("user", "What's the weather like in Lisbon right now?"),
            ("call", [("get_current_weather", {"location": "Lisbon, Portugal", "unit": "celsius"})]),
            (
                "result",
                [
                    {
                        "location": "Lisbon, Portugal",
                        "temperature": 21,
                        "unit": "celsius",
                        "condition": "Sunny",
                        "humidity": 55,
                        "wind_kph": 13,
                    }
                ],
            ),
            (
                "assistant",
                "It's sunny in Lisbon at the moment: 21 °C, 55% humidity and a light breeze of about 13 km/h. A lovely day to be outside.",
            ),
        ],
    ),
    (
        "weather_chicago",
        ["get_current_weather"],
        [
            ("system", BASIC_SYSTEM),
            ("user", "I'm heading out in Chicago in an hour. Do I need a jacket?"),
            ("call", [("get_current_weather", {"location": "Chicago, IL", "unit": "fahrenheit"})]),
            (
                "result",
                [
                    {
                        "location": "Chicago, IL",
                        "temperature": 48,
                        "feels_like": 42,
                        "unit": "fahrenheit",
                        "condition": "Overcast",
                        "wind_mph": 17,
                    }
                ],
            ),
            (
                "assistant",
                "Yes, take one. It's 48 °F and overcast in Chicago, and a 17 mph wind makes it feel more like 42 °F. Something warm and windproof would be ideal.",
            ),
        ],
    ),
    (
        "weather_oslo_madrid",
        ["get_current_weather", "convert_units"],
        [
            ("user", "Is it warmer in Oslo or in Madrid right now?"),
            (
                "call",
                [
                    ("get_current_weather", {"location": "Oslo, Norway", "unit": "celsius"}),
                    ("get_current_weather", {"location": "Madrid, Spain", "unit": "celsius"}),
                ],
            ),
            (
                "result",
                [
                    {"location": "Oslo, Norway", "temperature": 9, "unit": "celsius", "condition": "Light rain"},
                    {"location": "Madrid, Spain", "temperature": 27, "unit": "celsius", "condition": "Clear"},
                ],
            ),
            (
                "assistant",
                "Madrid, by a wide margin: it's 27 °C and clear there, while Oslo has light rain and 9 °C. That's an 18-degree difference.",
            ),
        ],
    ),
    (
        "forecast_kyoto",
        ["get_weather_forecast", "get_current_weather"],
        [
            ("system", DATE_SYSTEM),
            (
                "user",
                "Can you give me the 3-day forecast for Kyoto? I'm visiting temples and want to know if I need an umbrella.",
            ),
            ("call", [("get_weather_forecast", {"location": "Kyoto, Japan", "days": 3, "unit": "celsius"})]),
            (
                "result",
                [
                    {
                        "location": "Kyoto, Japan",
                        "forecast": [
                            {
                                "date": "2024-05-14",
                                "high": 24,
                                "low": 14,
                                "condition": "Partly cloudy",
                                "chance_of_rain": 10,
                            },
                            {"date": "2024-05-15", "high": 22, "low": 15, "condition": "Rain", "chance_of_rain": 80},
                            {"date": "2024-05-16", "high": 25, "low": 13, "condition": "Sunny", "chance_of_rain": 5},
                        ],
                    }
                ],
            ),
            (
                "assistant",
                "Here's the outlook for Kyoto:\n\n- Today (Tue 14 May): partly cloudy, 14–24 °C, 10% chance of rain.\n- Wednesday: rain is likely (80%), 15–22 °C.\n- Thursday: sunny, 13–25 °C.\n\nYou'll want an umbrella on Wednesday. If you can, save the big outdoor temple grounds for today and Thursday and keep Wednesday for indoor sights.",
            ),
        ],
    ),
    (
        "forecast_nairobi",
        ["get_weather_forecast"],
        [
            ("system", DATE_SYSTEM),
            ("user", "What's the weather going to do in Nairobi over the next five days?"),
            ("call", [("get_weather_forecast", {"location": "Nairobi, Kenya", "days": 5, "unit": "celsius"})]),
            (
                "result",
                [
                    {
                        "location": "Nairobi, Kenya",
                        "forecast": [
                            {"date": "2024-05-14", "high": 23, "low": 14, "condition": "Showers", "chance_of_rain": 70},
                            {
                                "date": "2024-05-15",
                                "high": 22,
                                "low": 14,
                                "condition": "Thunderstorms",
                                "chance_of_rain": 85,
                            },
                            {
                                "date": "2024-05-16",
                                "high": 24,
                                "low": 13,
                                "condition": "Partly cloudy",
                                "chance_of_rain": 30,
                            },
                            {
                                "date": "2024-05-17",
                                "high": 25,
                                "low": 13,
                                "condition": "Partly cloudy",
                                "chance_of_rain": 25,
                            },
                            {"date": "2024-05-18", "high": 24, "low": 14, "condition": "Showers", "chance_of_rain": 60},
                        ],
                    }
                ],
            ),
            (
                "assistant",
                "Nairobi is in its long-rains season, and the forecast shows it:\n\n- Today: showers (70%), 14–23 °C\n- Wednesday: thunderstorms likely (85%), 14–22 °C\n- Thursday: partly cloudy, 13–24 °C\n- Friday: partly cloudy, 13–25 °C — the driest day\n- Saturday: showers return (60%), 14–24 °C\n\nTemperatures stay mild all week; Thursday and Friday are your best bets for plans outdoors.",
            ),
        ],
    ),
    (
        "currency_usd_eur",
        ["convert_currency"],
        [
            ("user", "How much is 250 US dollars in euros?"),
            ("call", [("convert_currency", {"amount": 250, "from_currency": "USD", "to_currency": "EUR"})]),
            (
                "result",
                [
                    {
                        "amount": 250,
                        "from": "USD",
                        "to": "EUR",
                        "rate": 0.9268,
                        "converted": 231.7,
                        "as_of": "2024-05-14",
                    }
                ],
            ),
            ("assistant", "250 US dollars is about €231.70 at today's rate of 0.9268 euros per dollar."),
        ],
    ),
    (
        "currency_jpy_gbp",
        ["convert_currency", "get_local_time"],
        [
            ("user", "I've got 12,000 yen left over from my trip to Osaka. What's that in pounds?"),
            ("call", [("convert_currency", {"amount": 12000, "from_currency": "JPY", "to_currency": "GBP"})]),
            (
                "result",
                [
                    {
                        "amount": 12000,
                        "from": "JPY",
                        "to": "GBP",
                        "rate": 0.00512,
                        "converted": 61.44,
                        "as_of": "2024-05-14",
                    }
                ],
            ),
            (
                "assistant",
                "Your ¥12,000 is worth about £61.44 at the current rate (1 JPY = 0.00512 GBP). A bureau de change will usually take a margin, so expect to get a bit less in cash.",
            ),
        ],
    ),
    (
        "currency_chf_cad",
        ["convert_currency"],
        [
            ("system", BASIC_SYSTEM),
            ("user", "How much is 85 Swiss francs in Canadian dollars?"),
            ("call", [("convert_currency", {"amount": 85, "from_currency": "CHF", "to_currency": "CAD"})]),
            (
                "result",
                [
                    {
                        "amount": 85,
                        "from": "CHF",
                        "to": "CAD",
                        "rate": 1.5063,
                        "converted": 128.04,
                        "as_of": "2024-05-14",
                    }
                ],
            ),
            ("assistant", "85 Swiss francs comes to roughly 128.04 Canadian dollars (rate: 1 CHF = 1.5063 CAD)."),
        ],
    ),
    (
        "currency_eur_two",
        ["convert_currency"],
        [
            ("user", "Convert 100 euros into both US dollars and Indian rupees, please."),
            (
                "call",
                [
                    ("convert_currency", {"amount": 100, "from_currency": "EUR", "to_currency": "USD"}),
                    ("convert_currency", {"amount": 100, "from_currency": "EUR", "to_currency": "INR"}),
                ],
            ),
            (
                "result",
                [
                    {"amount": 100, "from": "EUR", "to": "USD", "rate": 1.0789, "converted": 107.89},
                    {"amount": 100, "from": "EUR", "to": "INR", "rate": 90.12, "converted": 9012.0},
                ],
            ),
            (
                "assistant",
                "€100 is currently worth:\n\n- about $107.89 (1 EUR = 1.0789 USD)\n- about ₹9,012 (1 EUR = 90.12 INR)",
            ),
        ],
    ),
    (
        "units_miles_km",
        ["convert_units"],
        [
            ("user", "I'm training for a 5-mile race. How far is that in kilometres?"),
            ("call", [("convert_units", {"value": 5, "from_unit": "mile", "to_unit": "kilometer"})]),
            ("result", [{"value": 5, "from_unit": "mile", "to_unit": "kilometer", "result": 8.04672}]),
            ("assistant", "Five miles is about 8.05 km, so a little longer than an 8K. Good luck with the training!"),
        ],
    ),
    (
        "units_oven",
        ["convert_units", "web_search"],
        [
            ("user", "My recipe says to bake at 350 degrees Fahrenheit. What's that in Celsius?"),
            ("call", [("convert_units", {"value": 350, "from_unit": "fahrenheit", "to_unit": "celsius"})]),
            ("result", [{"value": 350, "from_unit": "fahrenheit", "to_unit": "celsius", "result": 176.67}]),
            (
                "assistant",
                "350 °F is about 177 °C. Most recipes round this to 180 °C; if you have a fan (convection) oven, use about 160 °C instead.",
            ),
        ],
    ),
    (
        "units_cups_ml",
        ["convert_units"],
        [
            ("user", "How many millilitres are in 2.5 cups?"),
            ("call", [("convert_units", {"value": 2.5, "from_unit": "cup", "to_unit": "milliliter"})]),
            (
                "result",
                [
                    {
                        "value": 2.5,
                        "from_unit": "cup",
                        "to_unit": "milliliter",
                        "result": 591.47,
                        "note": "US customary cup (236.59 mL)",
                    }
                ],
            ),
            (
                "assistant",
                "2.5 US cups is about 591 mL. If your recipe uses metric cups (250 mL each), it would be 625 mL.",
            ),
        ],
    ),
    (
        "units_kg_lb",
        ["convert_units", "calculate"],
        [
            ("user", "I weigh 70 kg. What's that in pounds?"),
            ("call", [("convert_units", {"value": 70, "from_unit": "kilogram", "to_unit": "pound"})]),
            ("result", [{"value": 70, "from_unit": "kilogram", "to_unit": "pound", "result": 154.32}]),
            ("assistant", "70 kg is about 154.3 pounds (or 11 stone 0.3 lb, if you use stones)."),
        ],
    ),
    (
        "calendar_budget_call",
        ["create_calendar_event", "list_calendar_events"],
        [
            ("system", DATE_SYSTEM),
            (
                "user",
                "Put a 30-minute call with Dana Whitfield on my calendar tomorrow at 3pm, and call it 'Budget review'.",
            ),
            (
                "call",
                [
                    (
                        "create_calendar_event",
                        {
                            "title": "Budget review",
                            "date": "2024-05-15",
                            "start_time": "15:00",
                            "duration_minutes": 30,
                            "attendees": ["Dana Whitfield"],
                        },
                    )
                ],
            ),
            (
                "result",
                [
                    {
                        "status": "created",
                        "event_id": "evt_5821",
                        "title": "Budget review",
                        "start": "2024-05-15T15:00",
                        "end": "2024-05-15T15:30",
                    }
                ],
            ),
            (
                "assistant",
                'Done. "Budget review" with Dana Whitfield is on your calendar for tomorrow, Wednesday 15 May, from 15:00 to 15:30.',
            ),
        ],
    ),
    (
        "calendar_friday",
        ["list_calendar_events", "create_calendar_event"],
        [
            ("system", DATE_SYSTEM),
            ("user", "What do I have on Friday?"),
            ("call", [("list_calendar_events", {"date": "2024-05-17"})]),
            (
                "result",
                [
                    {
                        "date": "2024-05-17",
                        "events": [
                            {"title": "Team stand-up", "start": "09:30", "end": "09:45"},
                            {"title": "Dentist", "start": "12:00", "end": "12:45", "location": "Harley Street Dental"},
                            {"title": "Quarterly planning", "start": "14:00", "end": "16:00"},
                        ],
                    }
                ],
            ),
            (
                "assistant",
                "On Friday 17 May you have three things:\n\n1. Team stand-up, 09:30–09:45\n2. Dentist at Harley Street Dental, 12:00–12:45\n3. Quarterly planning, 14:00–16:00\n\nYour morning after the stand-up and the time after 16:00 are free.",
            ),
        ],
    ),
    (
        "calendar_focus_block",
        ["list_calendar_events", "create_calendar_event"],
        [
            ("system", DATE_SYSTEM),
            ("user", "Find a free hour tomorrow afternoon and book a focus block called 'Write report'."),
            ("call", [("list_calendar_events", {"date": "2024-05-15"})]),
            (
                "result",
                [
                    {
                        "date": "2024-05-15",
                        "events": [
                            {"title": "Design critique", "start": "13:30", "end": "14:30"},
                            {"title": "1:1 with Priya", "start": "16:00", "end": "16:30"},
                        ],
                    }
                ],
            ),
            (
                "call",
                [
                    (
                        "create_calendar_event",
                        {"title": "Write report", "date": "2024-05-15", "start_time": "14:30", "duration_minutes": 60},
                    )
                ],
            ),
            (
                "result",
                [
                    {
                        "status": "created",
                        "event_id": "evt_5830",
                        "title": "Write report",
                        "start": "2024-05-15T14:30",
                        "end": "2024-05-15T15:30",
                    }
                ],
            ),
            (
                "assistant",
                'Tomorrow afternoon you have a design critique from 13:30 to 14:30 and a 1:1 with Priya at 16:00, so I\'ve booked "Write report" from 14:30 to 15:30, straight after the critique. That still leaves you half an hour before the 1:1.',
            ),
        ],
    ),
    (
        "calendar_kickoff",
        ["create_calendar_event", "send_email"],
        [
            (
                "user",
                "Schedule a project kickoff on 2024-05-21 at 10:00 for 90 minutes in Room 4B, with amelie@northwind.example, kofi@northwind.example and li.na@northwind.example.",
            ),
            (
                "call",
                [
                    (
                        "create_calendar_event",
                        {
                            "title": "Project kickoff",
                            "date": "2024-05-21",
                            "start_time": "10:00",
                            "duration_minutes": 90,
                            "location": "Room 4B",
                            "attendees": [
                                "amelie@northwind.example",
                                "kofi@northwind.example",
                                "li.na@northwind.example",
                            ],
                        },
                    )
                ],
            ),
            ("result", [{"status": "created", "event_id": "evt_6002", "invitations_sent": 3}]),
            (
                "assistant",
                "The project kickoff is booked for Tuesday 21 May, 10:00–11:30 in Room 4B, and invitations have gone out to Amelie, Kofi and Li Na.",
            ),
        ],
    ),
    (
        "search_world_cup",
        ["web_search"],
        [
            ("user", "Who won the 2022 FIFA World Cup?"),
            ("call", [("web_search", {"query": "2022 FIFA World Cup winner"})]),
            (
                "result",
                [
                    {
                        "results": [
                            {
                                "title": "2022 World Cup final: Argentina beat France on penalties",
                                "url": "https://sports.example.com/2022-final",
                                "snippet": "Argentina won the 2022 World Cup in Qatar, beating France 4-2 on penalties after a 3-3 draw in the final on 18 December 2022.",
                            }
                        ]
                    }
                ],
            ),
            (
                "assistant",
                "Argentina won the 2022 FIFA World Cup in Qatar. They beat France 4–2 on penalties after a 3–3 draw in the final on 18 December 2022.",
            ),
        ],
    ),
    (
        "search_banana_bread",
        ["web_search", "convert_units"],
        [
            ("user", "Find me a recipe for vegan banana bread."),
            ("call", [("web_search", {"query": "vegan banana bread recipe", "max_results": 3})]),
            (
                "result",
                [
                    {
                        "results": [
                            {
                                "title": "Easy One-Bowl Vegan Banana Bread",
                                "url": "https://bakes.example.org/vegan-banana-bread",
                                "snippet": "Three ripe bananas, oil instead of butter and a flax 'egg'. Ready in an hour.",
                            },
                            {
                                "title": "Vegan Banana Walnut Loaf",
                                "url": "https://kitchen.example.com/banana-walnut-loaf",
                                "snippet": "A moist loaf sweetened with maple syrup, with toasted walnuts folded in.",
                            },
                            {
                                "title": "Healthy Oat Banana Bread (Vegan)",
                                "url": "https://recipes.example.net/oat-banana-bread",
                                "snippet": "Made with oat flour and no refined sugar; good for breakfast.",
                            },
                        ]
                    }
                ],
            ),
            (
                "assistant",
                'Here are three vegan banana bread recipes to choose from:\n\n1. **Easy One-Bowl Vegan Banana Bread**: three ripe bananas, oil instead of butter and a flax "egg"; about an hour start to finish. https://bakes.example.org/vegan-banana-bread\n2. **Vegan Banana Walnut Loaf**: sweetened with maple syrup, with toasted walnuts. https://kitchen.example.com/banana-walnut-loaf\n3. **Healthy Oat Banana Bread**: oat flour and no refined sugar, a good breakfast option. https://recipes.example.net/oat-banana-bread\n\nFor a classic first loaf I\'d start with the one-bowl recipe.',
            ),
        ],
    ),
    (
        "search_sleep_memory",
        ["web_search"],
        [
            ("system", BASIC_SYSTEM),
            ("user", "I'd like a few articles about how sleep affects memory. Just the top 5 results, please."),
            ("call", [("web_search", {"query": "how sleep affects memory", "max_results": 5})]),
            (
                "result",
                [
                    {
                        "results": [
                            {"title": "Why sleep matters for memory", "url": "https://health.example.org/sleep-memory"},
                            {
                                "title": "Deep sleep and memory consolidation, explained",
                                "url": "https://science.example.com/consolidation",
                            },
                            {
                                "title": "What happens to your memory after a sleepless night",
                                "url": "https://news.example.net/all-nighter",
                            },
                            {"title": "Naps, learning and the brain", "url": "https://learn.example.edu/naps"},
                            {
                                "title": "Sleep tips for students before exams",
                                "url": "https://study.example.org/exam-sleep",
                            },
                        ]
                    }
                ],
            ),
            (
                "assistant",
                "Here are the top five results:\n\n1. Why sleep matters for memory: https://health.example.org/sleep-memory\n2. Deep sleep and memory consolidation, explained: https://science.example.com/consolidation\n3. What happens to your memory after a sleepless night: https://news.example.net/all-nighter\n4. Naps, learning and the brain: https://learn.example.edu/naps\n5. Sleep tips for students before exams: https://study.example.org/exam-sleep\n\nThe second one is the best place to start if you want the science of how the brain consolidates memories during deep sleep.",
            ),
        ],
    ),
    (
        "stock_northwind",
        ["get_stock_price", "web_search"],
        [
            ("user", "What's Northwind Traders trading at? The ticker is NWTR."),
            ("call", [("get_stock_price", {"symbol": "NWTR"})]),
            (
                "result",
                [
                    {
                        "symbol": "NWTR",
                        "price": 48.17,
                        "currency": "USD",
                        "change": -0.62,
                        "change_percent": -1.27,
                        "as_of": "2024-05-14T15:45:00Z",
                    }
                ],
            ),
            ("assistant", "Northwind Traders (NWTR) is at $48.17, down $0.62 (-1.27%) on the day, as of 15:45 UTC."),
        ],
    ),
    (
        "stock_compare",
        ["get_stock_price"],
        [
            ("user", "How are Contoso (CTSO) and Fabrikam (FBRK) doing today?"),
            ("call", [("get_stock_price", {"symbol": "CTSO"}), ("get_stock_price", {"symbol": "FBRK"})]),
            (
                "result",
                [
                    {"symbol": "CTSO", "price": 212.4, "currency": "USD", "change": 3.1, "change_percent": 1.48},
                    {"symbol": "FBRK", "price": 37.85, "currency": "USD", "change": -1.15, "change_percent": -2.95},
                ],
            ),
            (
                "assistant",
                "Mixed day:\n\n- Contoso (CTSO): $212.40, up $3.10 (+1.48%)\n- Fabrikam (FBRK): $37.85, down $1.15 (-2.95%)\n\nContoso is ahead today, while Fabrikam has had a noticeably weak session.",
            ),
        ],
    ),
    (
        "email_landlord",
        ["send_email", "create_todo"],
        [
            ("system", BASIC_SYSTEM),
            (
                "user",
                "Email my landlord at m.okafor@lettings.example to say the boiler in Flat 3 stopped working this morning, and ask when someone can come and look at it. Sign it from Jess.",
            ),
            (
                "call",
                [
                    (
                        "send_email",
                        {
                            "to": "m.okafor@lettings.example",
                            "subject": "Boiler not working in Flat 3",
                            "body": "Dear Mr Okafor,\n\nThe boiler in Flat 3 stopped working this morning, so there is currently no heating or hot water. Could you let me know when someone can come and take a look at it?\n\nThank you,\nJess",
                        },
                    )
                ],
            ),
            ("result", [{"status": "sent", "message_id": "msg_77a1"}]),
            (
                "assistant",
                "I've sent the email to m.okafor@lettings.example with the subject \"Boiler not working in Flat 3\". It explains that the boiler stopped this morning, mentions there's no heating or hot water, and asks when someone can come round.",
            ),
        ],
    ),
    (
        "calc_percentage",
        ["calculate"],
        [
            ("user", "What's 17.5% of 2,340?"),
            ("call", [("calculate", {"expression": "2340 * 0.175"})]),
            ("result", [{"expression": "2340 * 0.175", "result": 409.5}]),
            ("assistant", "17.5% of 2,340 is 409.5."),
        ],
    ),
    (
        "calc_compound",
        ["calculate", "convert_currency"],
        [
            ("user", "If I invest 5,000 at 4% interest compounded annually, how much will I have after 10 years?"),
            ("call", [("calculate", {"expression": "5000 * (1 + 0.04) ** 10"})]),
            ("result", [{"expression": "5000 * (1 + 0.04) ** 10", "result": 7401.2214}]),
            (
                "assistant",
                "After 10 years you'd have about 7,401.22, which means roughly 2,401 earned in interest, assuming the 4% rate holds and you don't add or withdraw anything.",
            ),
        ],
    ),
    (
        "time_tokyo",
        ["get_local_time"],
        [
            ("user", "What time is it in Tokyo right now?"),
            ("call", [("get_local_time", {"timezone": "Asia/Tokyo"})]),
            ("result", [{"timezone": "Asia/Tokyo", "local_time": "2024-05-14T18:20:00+09:00", "utc_offset": "+09:00"}]),
            ("assistant", "It's 6:20 pm on Tuesday 14 May in Tokyo (UTC+9)."),
        ],
    ),
    (
        "time_sydney",
        ["get_local_time", "send_email"],
        [
            ("system", DATE_SYSTEM),
            ("user", "My colleague is in Sydney. Is it too late to give her a call now?"),
            ("call", [("get_local_time", {"timezone": "Australia/Sydney"})]),
            (
                "result",
                [{"timezone": "Australia/Sydney", "local_time": "2024-05-14T19:20:00+10:00", "utc_offset": "+10:00"}],
            ),
            (
                "assistant",
                "It's 7:20 pm in Sydney right now. That's not too late for a quick call, but she has probably finished work, so a short message asking if she's free might be kinder than ringing out of the blue.",
            ),
        ],
    ),
    (
        "translate_spanish",
        ["translate_text"],
        [
            ("user", "How do I say 'Where is the train station?' in Spanish?"),
            ("call", [("translate_text", {"text": "Where is the train station?", "target_language": "es"})]),
            ("result", [{"translated_text": "¿Dónde está la estación de tren?", "detected_source_language": "en"}]),
            ("assistant", 'In Spanish you\'d say: "¿Dónde está la estación de tren?"'),
        ],
    ),
    (
        "translate_french",
        ["translate_text", "define_word"],
        [
            ("user", "What does 'Merci beaucoup pour votre aide' mean? It's French."),
            (
                "call",
                [
                    (
                        "translate_text",
                        {"text": "Merci beaucoup pour votre aide", "target_language": "en", "source_language": "fr"},
                    )
                ],
            ),
            ("result", [{"translated_text": "Thank you very much for your help"}]),
            (
                "assistant",
                'It means "Thank you very much for your help." "Votre" is the polite or plural form of "your", so it\'s a courteous way to say it.',
            ),
        ],
    ),
    (
        "restaurants_thai",
        ["search_restaurants"],
        [
            ("user", "Find me a cheap Thai place in the Melbourne CBD."),
            ("call", [("search_restaurants", {"location": "Melbourne CBD", "cuisine": "Thai", "max_price": 1})]),
            (
                "result",
                [
                    {
                        "results": [
                            {
                                "name": "Bangkok Lane Kitchen",
                                "rating": 4.5,
                                "price": 1,
                                "address": "12 Little Collins St",
                            },
                            {"name": "Som Tam Corner", "rating": 4.3, "price": 1, "address": "201 Swanston St"},
                            {"name": "Noodle Boat", "rating": 4.1, "price": 1, "address": "88 Elizabeth St"},
                        ]
                    }
                ],
            ),
            (
                "assistant",
                "Three cheap Thai spots in the CBD:\n\n1. Bangkok Lane Kitchen, 12 Little Collins St (rated 4.5)\n2. Som Tam Corner, 201 Swanston St (4.3)\n3. Noodle Boat, 88 Elizabeth St (4.1)\n\nBangkok Lane Kitchen has the best reviews of the three.",
            ),
        ],
    ),
    (
        "restaurants_italian",
        ["search_restaurants", "get_local_time"],
        [
            ("user", "Are there any mid-range Italian restaurants open right now near Union Square in San Francisco?"),
            (
                "call",
                [
                    (
                        "search_restaurants",
                        {
                            "location": "Union Square, San Francisco",
                            "cuisine": "Italian",
                            "max_price": 2,
                            "open_now": True,
                        },
                    )
                ],
            ),
            (
                "result",
                [
                    {
                        "results": [
                            {"name": "Trattoria Fiorella", "rating": 4.4, "price": 2, "closes": "22:00"},
                            {"name": "Pasta Verde", "rating": 4.2, "price": 2, "closes": "21:30"},
                        ]
                    }
                ],
            ),
            (
                "assistant",
                "Yes, two are open now near Union Square: Trattoria Fiorella (rated 4.4, open until 22:00) and Pasta Verde (4.2, open until 21:30). Both are mid-range.",
            ),
        ],
    ),
    (
        "reminder_mum",
        ["set_reminder", "create_todo"],
        [
            ("system", DATE_SYSTEM),
            ("user", "Remind me to call Mum at 6pm today."),
            ("call", [("set_reminder", {"message": "Call Mum", "remind_at": "2024-05-14T18:00"})]),
            ("result", [{"status": "scheduled", "reminder_id": "rem_311"}]),
            ("assistant", "Okay, I'll remind you to call Mum today at 18:00."),
        ],
    ),
    (
        "reminder_bins",
        ["set_reminder"],
        [
            ("system", DATE_SYSTEM),
            ("user", "Remind me tomorrow at 8:30 to take the bins out."),
            ("call", [("set_reminder", {"message": "Take the bins out", "remind_at": "2024-05-15T08:30"})]),
            ("result", [{"status": "scheduled", "reminder_id": "rem_312"}]),
            ("assistant", "Reminder set for tomorrow, Wednesday 15 May, at 08:30: take the bins out."),
        ],
    ),
    (
        "flight_ba283",
        ["get_flight_status"],
        [
            ("system", DATE_SYSTEM),
            ("user", "Is BA283 on time today?"),
            ("call", [("get_flight_status", {"flight_number": "BA283", "date": "2024-05-14"})]),
            (
                "result",
                [
                    {
                        "flight_number": "BA283",
                        "route": "LHR-LAX",
                        "status": "Delayed",
                        "scheduled_departure": "2024-05-14T14:20+01:00",
                        "estimated_departure": "2024-05-14T14:55+01:00",
                        "terminal": "5",
                        "gate": "B38",
                    }
                ],
            ),
            (
                "assistant",
                "Not quite: BA283 from Heathrow to Los Angeles is delayed by about 35 minutes. It's now expected to leave at 14:55 instead of 14:20, from Terminal 5, gate B38.",
            ),
        ],
    ),
    (
        "flight_lh454",
        ["get_flight_status", "set_reminder"],
        [
            ("user", "What's the status of LH454 on 20 May 2024?"),
            ("call", [("get_flight_status", {"flight_number": "LH454", "date": "2024-05-20"})]),
            (
                "result",
                [
                    {
                        "flight_number": "LH454",
                        "route": "FRA-SFO",
                        "status": "Scheduled",
                        "scheduled_departure": "2024-05-20T13:55+02:00",
                        "scheduled_arrival": "2024-05-20T16:20-07:00",
                    }
                ],
            ),
            (
                "assistant",
                "LH454 on 20 May is scheduled as normal: it leaves Frankfurt at 13:55 local time and is due into San Francisco at 16:20 local time. It's a few days out, so check again on the day.",
            ),
        ],
    ),
    (
        "define_ephemeral",
        ["define_word"],
        [
            ("user", "What does 'ephemeral' mean?"),
            ("call", [("define_word", {"word": "ephemeral"})]),
            (
                "result",
                [
                    {
                        "word": "ephemeral",
                        "part_of_speech": "adjective",
                        "definitions": ["lasting for a very short time"],
                        "example": "Fame on social media is often ephemeral.",
                    }
                ],
            ),
            (
                "assistant",
                '"Ephemeral" is an adjective meaning lasting for a very short time. For example: "Fame on social media is often ephemeral."',
            ),
        ],
    ),
    (
        "define_petrichor",
        ["define_word", "translate_text"],
        [
            ("user", "Define 'petrichor' for me."),
            ("call", [("define_word", {"word": "petrichor"})]),
            (
                "result",
                [
                    {
                        "word": "petrichor",
                        "part_of_speech": "noun",
                        "definitions": [
                            "a pleasant, earthy smell that often accompanies the first rain after a long period of warm, dry weather"
                        ],
                    }
                ],
            ),
            (
                "assistant",
                "Petrichor (noun) is the pleasant, earthy smell you often notice when rain falls after a long spell of warm, dry weather.",
            ),
        ],
    ),
    (
        "todo_passport",
        ["create_todo", "set_reminder"],
        [
            ("system", DATE_SYSTEM),
            (
                "user",
                "Add 'Renew passport' to my to-do list. It's high priority and needs doing by the end of the month.",
            ),
            ("call", [("create_todo", {"title": "Renew passport", "due_date": "2024-05-31", "priority": "high"})]),
            ("result", [{"status": "created", "todo_id": "todo_904"}]),
            ("assistant", 'Added "Renew passport" to your to-do list as high priority, due Friday 31 May.'),
        ],
    ),
    (
        "todo_oat_milk",
        ["create_todo"],
        [
            ("user", "Stick oat milk on my to-do list."),
            ("call", [("create_todo", {"title": "Buy oat milk"})]),
            ("result", [{"status": "created", "todo_id": "todo_905"}]),
            ("assistant", 'Done, "Buy oat milk" is on your to-do list.'),
        ],
    ),
    (
        "track_ups",
        ["track_package"],
        [
            ("user", "Where's my parcel? The UPS tracking number is 1Z84X9160312345678."),
            ("call", [("track_package", {"tracking_number": "1Z84X9160312345678", "carrier": "ups"})]),
            (
                "result",
                [
                    {
                        "tracking_number": "1Z84X9160312345678",
                        "status": "Out for delivery",
                        "last_location": "Leeds, GB",
                        "estimated_delivery": "2024-05-14",
                    }
                ],
            ),
            (
                "assistant",
                "Good news: your UPS parcel is out for delivery from the Leeds depot and should arrive today.",
            ),
        ],
    ),
    (
        "track_dhl",
        ["track_package", "send_email"],
        [
            ("user", "Can you check DHL shipment 4821937560?"),
            ("call", [("track_package", {"tracking_number": "4821937560", "carrier": "dhl"})]),
            (
                "result",
                [
                    {
                        "tracking_number": "4821937560",
                        "status": "In transit",
                        "last_event": "Customs clearance completed, Leipzig, DE",
                        "estimated_delivery": "2024-05-16",
                    }
                ],
            ),
            (
                "assistant",
                "Shipment 4821937560 is in transit. It has cleared customs in Leipzig and is expected to be delivered on Thursday 16 May.",
            ),
        ],
    ),
    (
        "no_tool_capital",
        ["get_current_weather"],
        [
            ("user", "What's the capital of Australia?"),
            (
                "assistant",
                "The capital of Australia is Canberra, not Sydney as many people assume. It was purpose-built as a compromise between Sydney and Melbourne, and Parliament first sat there in 1927.",
            ),
        ],
    ),
    (
        "no_tool_haiku",
        ["web_search"],
        [
            ("user", "Write a haiku about rain on a tin roof."),
            ("assistant", "Tin roof drums at night,\na thousand small fingers tap;\nsleep comes with the storm."),
        ],
    ),
    (
        "no_tool_arithmetic",
        ["calculate"],
        [
            ("system", BASIC_SYSTEM),
            ("user", "Quick one: what's 12 times 12?"),
            ("assistant", "12 × 12 = 144."),
        ],
    ),
    (
        "clarify_weather",
        ["get_current_weather", "get_weather_forecast"],
        [
            ("user", "What's the weather like?"),
            ("assistant", "Happy to check. Which city or town should I look up?"),
        ],
    ),
    (
        "clarify_currency",
        ["convert_currency"],
        [
            ("user", "Convert 100 dollars for me."),
            (
                "assistant",
                "Sure. Which currency should I convert the 100 dollars into? And do you mean US dollars, or another dollar such as Canadian or Australian?",
            ),
        ],
    ),
    (
        "weather_followup",
        ["get_current_weather", "get_weather_forecast"],
        [
            ("system", DATE_SYSTEM),
            ("user", "What's the weather in Edinburgh?"),
            ("call", [("get_current_weather", {"location": "Edinburgh, UK", "unit": "celsius"})]),
            (
                "result",
                [
                    {
                        "location": "Edinburgh, UK",
                        "temperature": 12,
                        "unit": "celsius",
                        "condition": "Cloudy",
                        "wind_kph": 22,
                    }
                ],
            ),
            ("assistant", "It's 12 °C and cloudy in Edinburgh, with a fresh breeze of about 22 km/h."),
            ("user", "And what about the next couple of days?"),
            ("call", [("get_weather_forecast", {"location": "Edinburgh, UK", "days": 3, "unit": "celsius"})]),
            (
                "result",
                [
                    {
                        "location": "Edinburgh, UK",
                        "forecast": [
                            {"date": "2024-05-14", "high": 13, "low": 7, "condition": "Cloudy"},
                            {"date": "2024-05-15", "high": 15, "low": 8, "condition": "Sunny intervals"},
                            {"date": "2024-05-16", "high": 11, "low": 6, "condition": "Heavy rain"},
                        ],
                    }
                ],
            ),
            (
                "assistant",
                "Tomorrow (Wednesday) looks like the better day, with sunny intervals and a high of 15 °C. Thursday turns wet, with heavy rain and only 11 °C, so pack a waterproof if you're out then.",
            ),
        ],
    ),
    (
        "flight_then_reminder",
        ["get_flight_status", "set_reminder"],
        [
            ("system", DATE_SYSTEM),
            (
                "user",
                "Check whether U2 8745 tomorrow is on schedule, and if it is, remind me at 6am tomorrow to leave for the airport.",
            ),
            ("call", [("get_flight_status", {"flight_number": "U28745", "date": "2024-05-15"})]),
            (
                "result",
                [
                    {
                        "flight_number": "U28745",
                        "route": "LGW-BCN",
                        "status": "On time",
                        "scheduled_departure": "2024-05-15T08:40+01:00",
                    }
                ],
            ),
            (
                "call",
                [
                    (
                        "set_reminder",
                        {"message": "Leave for the airport (U2 8745 departs 08:40)", "remind_at": "2024-05-15T06:00"},
                    )
                ],
            ),
            ("result", [{"status": "scheduled", "reminder_id": "rem_320"}]),
            (
                "assistant",
                "U2 8745 from Gatwick to Barcelona is on time for its 08:40 departure tomorrow, so I've set a reminder for 06:00 to leave for the airport.",
            ),
        ],
    ),
    (
        "currency_split_bill",
        ["convert_currency", "calculate"],
        [
            (
                "user",
                "We spent 3,450 baht on dinner in Bangkok and we're splitting it three ways. How much is each share in euros?",
            ),
            ("call", [("convert_currency", {"amount": 3450, "from_currency": "THB", "to_currency": "EUR"})]),
            ("result", [{"amount": 3450, "from": "THB", "to": "EUR", "rate": 0.02513, "converted": 86.7}]),
            ("assistant", "The whole bill is about €86.70, so each of you owes roughly €28.90 (1,150 baht each)."),
        ],
    ),
    (
        "weather_kelvin",
        ["get_current_weather"],
        [
            ("user", "What's the temperature in Reykjavik in kelvin?"),
            ("call", [("get_current_weather", {"location": "Reykjavik, Iceland", "unit": "celsius"})]),
            ("result", [{"location": "Reykjavik, Iceland", "temperature": 6, "unit": "celsius", "condition": "Windy"}]),
            ("assistant", "It's 6 °C in Reykjavik right now, which is 279.15 K (kelvin = °C + 273.15)."),
        ],
    ),
    (
        "forecast_email_ben",
        ["get_weather_forecast", "send_email"],
        [
            ("system", DATE_SYSTEM),
            (
                "user",
                "Check Saturday's forecast for Porto and email it to Ben at ben.carvalho@mail.example so he knows what to pack.",
            ),
            ("call", [("get_weather_forecast", {"location": "Porto, Portugal", "days": 5, "unit": "celsius"})]),
            (
                "result",
                [
                    {
                        "location": "Porto, Portugal",
                        "forecast": [
                            {"date": "2024-05-14", "high": 22, "low": 13, "condition": "Sunny"},
                            {"date": "2024-05-15", "high": 21, "low": 13, "condition": "Sunny"},
                            {"date": "2024-05-16", "high": 20, "low": 12, "condition": "Cloudy"},
                            {"date": "2024-05-17", "high": 19, "low": 12, "condition": "Cloudy"},
                            {"date": "2024-05-18", "high": 19, "low": 12, "condition": "Showers", "chance_of_rain": 60},
                        ],
                    }
                ],
            ),
            (
                "call",
                [
                    (
                        "send_email",
                        {
                            "to": "ben.carvalho@mail.example",
                            "subject": "Porto weather on Saturday",
                            "body": "Hi Ben,\n\nThe forecast for Porto on Saturday 18 May is showers, with a high of 19 °C and a low of 12 °C (60% chance of rain). Worth packing a light rain jacket and a warm layer for the evening.\n\nSee you soon!",
                        },
                    )
                ],
            ),
            ("result", [{"status": "sent", "message_id": "msg_7802"}]),
            (
                "assistant",
                "Saturday in Porto looks showery: 12–19 °C with a 60% chance of rain. I've emailed Ben the forecast and suggested a light rain jacket and a warm layer for the evening.",
            ),
        ],
    ),
]

# Weak tool-use samples: (key, kind, [tool names], steps, note)
WEAK = [
    (
        "wk_json_quotes",
        "invalid_tool_call",
        ["convert_currency"],
        [
            ("user", "Convert 40 US dollars to Mexican pesos."),
            ("call", [("convert_currency", Raw("{'amount': 40, 'from_currency': 'USD', 'to_currency': 'MXN'}"))]),
            ("result", [{"error": "Could not parse the arguments."}]),
            ("assistant", "Sorry, I couldn't complete that conversion just now."),
        ],
        "arguments use single quotes, so they are not valid JSON",
    ),
    (
        "wk_json_unclosed",
        "invalid_tool_call",
        ["web_search"],
        [
            ("user", "Search for the best hiking trails near Denver and give me five results."),
            ("call", [("web_search", Raw('{"query": "best hiking trails near Denver", "max_results": 5'))]),
            ("result", [{"error": "Could not parse the arguments."}]),
            ("assistant", "I wasn't able to run that search. Please try again in a moment."),
        ],
        "arguments JSON is missing its closing brace",
    ),
    (
        "wk_missing_date",
        "invalid_tool_call",
        ["create_calendar_event"],
        [
            ("system", DATE_SYSTEM),
            ("user", "Book 'Yoga class' on Thursday at 7am for an hour."),
            (
                "call",
                [("create_calendar_event", {"title": "Yoga class", "start_time": "07:00", "duration_minutes": 60})],
            ),
            ("result", [{"status": "created", "event_id": "evt_6110"}]),
            ("assistant", "Your yoga class is booked for Thursday at 07:00 for an hour."),
        ],
        "required argument 'date' is missing",
    ),
    (
        "wk_days_string",
        "invalid_tool_call",
        ["get_weather_forecast"],
        [
            ("user", "Five-day forecast for Toronto, please."),
            ("call", [("get_weather_forecast", {"location": "Toronto, Canada", "days": "five", "unit": "celsius"})]),
            (
                "result",
                [
                    {
                        "location": "Toronto, Canada",
                        "forecast": [
                            {"date": "2024-05-14", "high": 18, "low": 8, "condition": "Sunny"},
                            {"date": "2024-05-15", "high": 20, "low": 10, "condition": "Partly cloudy"},
                            {"date": "2024-05-16", "high": 16, "low": 9, "condition": "Rain"},
                            {"date": "2024-05-17", "high": 17, "low": 7, "condition": "Cloudy"},
                            {"date": "2024-05-18", "high": 21, "low": 11, "condition": "Sunny"},
                        ],
                    }
                ],
            ),
            (
                "assistant",
                "Toronto's next five days: sunny today (8–18 °C), partly cloudy tomorrow (10–20 °C), rain on Thursday (9–16 °C), cloudy on Friday (7–17 °C) and sunny again on Saturday (11–21 °C).",
            ),
        ],
        "'days' is the string \"five\" instead of an integer",
    ),
    (
        "wk_refusal",
        "refusal",
        ["convert_units"],
        [
            ("user", "Convert 60 kilometres to miles."),
            ("assistant", "I'm sorry, I can't help with that."),
        ],
        "refuses a harmless request without calling the tool",
    ),
    (
        "wk_unrelated",
        "unrelated_answer",
        ["get_local_time"],
        [
            ("user", "What time is it in Toronto right now?"),
            ("call", [("get_local_time", {"timezone": "America/Toronto"})]),
            (
                "result",
                [{"timezone": "America/Toronto", "local_time": "2024-05-14T05:20:00-04:00", "utc_offset": "-04:00"}],
            ),
            (
                "assistant",
                "Toronto is the largest city in Canada and home to the CN Tower, which was the world's tallest free-standing structure for more than thirty years.",
            ),
        ],
        "final answer ignores the tool result and talks about something else",
    ),
    (
        "wk_empty",
        "empty_answer",
        ["define_word"],
        [
            ("user", "What does 'ubiquitous' mean?"),
            ("call", [("define_word", {"word": "ubiquitous"})]),
            (
                "result",
                [
                    {
                        "word": "ubiquitous",
                        "part_of_speech": "adjective",
                        "definitions": ["present, appearing or found everywhere"],
                    }
                ],
            ),
            ("assistant", ""),
        ],
        "final assistant message is empty",
    ),
    (
        "wk_truncated",
        "truncated_answer",
        ["search_restaurants"],
        [
            ("user", "Recommend a traditional restaurant in Lyon."),
            ("call", [("search_restaurants", {"location": "Lyon, France", "cuisine": "Lyonnais"})]),
            (
                "result",
                [
                    {
                        "results": [
                            {"name": "Chez Mireille", "rating": 4.6, "price": 2},
                            {"name": "Le Petit Canut", "rating": 4.4, "price": 2},
                            {"name": "Bouchon des Quais", "rating": 4.3, "price": 3},
                        ]
                    }
                ],
            ),
            (
                "assistant",
                "I found three good options in Lyon. The best rated is Chez Mireille, a cosy bouchon serving classic Lyonnais dishes, and the second is",
            ),
        ],
        "final answer stops mid-sentence",
    ),
]

# (key, original key, steps)
NEAR_DUPLICATES = [
    (
        "nd_usd_eur",
        "currency_usd_eur",
        ["convert_currency"],
        [
            ("user", "Could you convert 250 US dollars to euros?"),
            ("call", [("convert_currency", {"amount": 250, "from_currency": "USD", "to_currency": "EUR"})]),
            (
                "result",
                [
                    {
                        "amount": 250,
                        "from": "USD",
                        "to": "EUR",
                        "rate": 0.9268,
                        "converted": 231.7,
                        "as_of": "2024-05-14",
                    }
                ],
            ),
            ("assistant", "250 US dollars is about €231.70 at today's rate of 0.9268 euros per dollar."),
        ],
    ),
]

# Evaluation prompts: (key, [tool names], [messages as (role, text)], expected calls)
EVAL = [
    (
        "ev_weather_ba",
        ["get_current_weather", "get_weather_forecast"],
        [("user", "What's the weather in Buenos Aires right now?")],
        [("get_current_weather", {"location": "Buenos Aires"})],
    ),
    (
        "ev_forecast_vancouver",
        ["get_weather_forecast", "get_current_weather"],
        [("user", "Give me a 4-day forecast for Vancouver in Celsius.")],
        [("get_weather_forecast", {"location": "Vancouver", "days": 4, "unit": "celsius"})],
    ),
    (
        "ev_gbp_usd",
        ["convert_currency", "calculate"],
        [("user", "How much is 75 British pounds in US dollars?")],
        [("convert_currency", {"amount": 75, "from_currency": "GBP", "to_currency": "USD"})],
    ),
    (
        "ev_km_miles",
        ["convert_units"],
        [("user", "Convert 10 kilometres to miles.")],
        [("convert_units", {"value": 10, "from_unit": "kilometer", "to_unit": "mile"})],
    ),
    (
        "ev_dentist",
        ["create_calendar_event", "list_calendar_events"],
        [
            ("system", DATE_SYSTEM),
            ("user", "Add an event titled 'Dentist' to my calendar on 22 May 2024 at 09:30, lasting 45 minutes."),
        ],
        [
            (
                "create_calendar_event",
                {"title": "Dentist", "date": "2024-05-22", "start_time": "09:30", "duration_minutes": 45},
            )
        ],
    ),
    (
        "ev_thursday_events",
        ["list_calendar_events", "create_calendar_event"],
        [("system", DATE_SYSTEM), ("user", "What's on my calendar this Thursday?")],
        [("list_calendar_events", {"date": "2024-05-16"})],
    ),
    (
        "ev_snake_plant",
        ["web_search"],
        [("user", "Search the web for: how to repot a snake plant")],
        [("web_search", {"query": "how to repot a snake plant"})],
    ),
    (
        "ev_stock_ctso",
        ["get_stock_price", "web_search"],
        [("user", "What's the current share price of Contoso? Its ticker is CTSO.")],
        [("get_stock_price", {"symbol": "CTSO"})],
    ),
    (
        "ev_email_hr",
        ["send_email", "create_calendar_event"],
        [
            (
                "user",
                "Send an email to hr@contoso.example with the subject 'Holiday request' and the body 'I would like to request annual leave from 3 to 7 June.'",
            )
        ],
        [
            (
                "send_email",
                {
                    "to": "hr@contoso.example",
                    "subject": "Holiday request",
                    "body": "I would like to request annual leave from 3 to 7 June.",
                },
            )
        ],
    ),
    (
        "ev_time_berlin",
        ["get_local_time"],
        [("user", "What time is it in Berlin? The time zone is Europe/Berlin.")],
        [("get_local_time", {"timezone": "Europe/Berlin"})],
    ),
    (
        "ev_translate_fr",
        ["translate_text", "define_word"],
        [("user", "Translate 'Good morning, how are you?' into French.")],
        [("translate_text", {"text": "Good morning, how are you?", "target_language": "fr"})],
    ),
    (
        "ev_mexican_austin",
        ["search_restaurants"],
        [("user", "Find Mexican restaurants in Austin, Texas at price level 2 or below.")],
        [("search_restaurants", {"location": "Austin, Texas", "cuisine": "Mexican", "max_price": 2})],
    ),
    (
        "ev_reminder_plants",
        ["set_reminder", "create_todo"],
        [("system", DATE_SYSTEM), ("user", "Remind me to water the plants tomorrow at 7pm.")],
        [("set_reminder", {"message": "Water the plants", "remind_at": "2024-05-15T19:00"})],
    ),
    (
        "ev_flight_ua857",
        ["get_flight_status"],
        [("system", DATE_SYSTEM), ("user", "Is flight UA857 on time today?")],
        [("get_flight_status", {"flight_number": "UA857", "date": "2024-05-14"})],
    ),
    (
        "ev_serendipity",
        ["define_word", "translate_text"],
        [("user", "What does the word 'serendipity' mean?")],
        [("define_word", {"word": "serendipity"})],
    ),
    (
        "ev_todo_car",
        ["create_todo"],
        [("user", "Add 'Book car service' to my to-do list with medium priority.")],
        [("create_todo", {"title": "Book car service", "priority": "medium"})],
    ),
    (
        "ev_usps",
        ["track_package"],
        [("user", "Track my USPS package 9400111899223344556677.")],
        [("track_package", {"tracking_number": "9400111899223344556677", "carrier": "usps"})],
    ),
    (
        "ev_cairo_athens",
        ["get_current_weather"],
        [("user", "What's the weather right now in Cairo and in Athens?")],
        [("get_current_weather", {"location": "Cairo"}), ("get_current_weather", {"location": "Athens"})],
    ),
    (
        "ev_cny_two",
        ["convert_currency"],
        [("user", "Convert 500 Chinese yuan to US dollars and also to euros.")],
        [
            ("convert_currency", {"amount": 500, "from_currency": "CNY", "to_currency": "USD"}),
            ("convert_currency", {"amount": 500, "from_currency": "CNY", "to_currency": "EUR"}),
        ],
    ),
    (
        "ev_no_call_octopus",
        ["web_search", "get_current_weather"],
        [("user", "Tell me a fun fact about octopuses.")],
        [],
    ),
    (
        "ev_tablespoons",
        ["convert_units"],
        [("user", "How many millilitres are in 3 tablespoons?")],
        [("convert_units", {"value": 3, "from_unit": "tablespoon", "to_unit": "milliliter"})],
    ),
    (
        "ev_cape_town",
        ["get_weather_forecast"],
        [("user", "7-day forecast for Cape Town in Fahrenheit, please.")],
        [("get_weather_forecast", {"location": "Cape Town", "days": 7, "unit": "fahrenheit"})],
    ),
    (
        "ev_today_meetings",
        ["list_calendar_events", "set_reminder"],
        [("system", DATE_SYSTEM), ("user", "What meetings do I have today?")],
        [("list_calendar_events", {"date": "2024-05-14"})],
    ),
    (
        "ev_sek_nok",
        ["convert_currency"],
        [("user", "Convert 1,000 Swedish kronor to Norwegian kroner.")],
        [("convert_currency", {"amount": 1000, "from_currency": "SEK", "to_currency": "NOK"})],
    ),
    (
        "ev_sushi_shibuya",
        ["search_restaurants", "get_local_time"],
        [("user", "Is there a good sushi place open right now in Shibuya, Tokyo?")],
        [("search_restaurants", {"location": "Shibuya, Tokyo", "cuisine": "sushi", "open_now": True})],
    ),
]

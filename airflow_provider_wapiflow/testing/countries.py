"""The dial codes the simulator knows: the country each one puts in a contact's ``address.country``."""

from __future__ import annotations

from typing import Any

from airflow_provider_wapiflow.testing.laravel import loose_equals

# The first entry of the app's country.json (sorted by country name) for each dial code. Partial:
# unknown codes give "" exactly like a code missing from the file.
COUNTRIES = {
    "1": "Canada",
    "7": "Kazakhstan",
    "20": "Egypt",
    "27": "South Africa",
    "30": "Greece",
    "31": "Netherlands",
    "32": "Belgium",
    "33": "France",
    "34": "Spain",
    "36": "Hungary",
    "39": "Italy",
    "40": "Romania",
    "41": "Switzerland",
    "43": "Austria",
    "44": "Guernsey",
    "45": "Denmark",
    "46": "Sweden",
    "47": "Norway",
    "48": "Poland",
    "49": "Germany",
    "51": "Peru",
    "52": "Mexico",
    "53": "Cuba",
    "54": "Argentina",
    "55": "Brazil",
    "56": "Chile",
    "57": "Colombia",
    "58": "Venezuela",
    "60": "Malaysia",
    "61": "Australia",
    "62": "Indonesia",
    "63": "Philippines",
    "64": "New Zealand",
    "65": "Singapore",
    "66": "Thailand",
    "81": "Japan",
    "86": "China",
    "90": "Turkey",
    "91": "India",
    "92": "Pakistan",
    "212": "Morocco",
    "213": "Algeria",
    "234": "Nigeria",
    "254": "Kenya",
    "351": "Portugal",
    "352": "Luxembourg",
    "353": "Ireland",
    "380": "Ukraine",
    "420": "Czech Republic",
    "502": "Guatemala",
    "503": "El Salvador",
    "504": "Honduras",
    "506": "Costa Rica",
    "507": "Panama",
    "591": "Bolivia",
    "593": "Ecuador",
    "595": "Paraguay",
    "598": "Uruguay",
    "966": "Saudi Arabia",
    "971": "United Arab Emirates",
    "972": "Israel",
}


def country_for(mobile_code: Any) -> str:
    """``country.json`` lookup with PHP's loose ``==`` (so ``"034"`` is Spain too)."""
    if isinstance(mobile_code, str) and mobile_code in COUNTRIES:
        # The codes are distinct numbers, so an exact key is the only loose match.
        return COUNTRIES[mobile_code]
    for code, country in COUNTRIES.items():
        if loose_equals(code, mobile_code):
            return country
    return ""

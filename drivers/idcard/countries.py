"""ICAO 9303 three-letter state codes to the ISO 3166 two-letter codes certificates carry.

Only the states this station meets, their neighbours and ICAO's test states; an unlisted code makes
the country check report "not checked" rather than guess.
"""

from __future__ import annotations

ALPHA3_TO_ALPHA2 = {
    "KGZ": "KG",
    "KAZ": "KZ",
    "UZB": "UZ",
    "TJK": "TJ",
    "TKM": "TM",
    "RUS": "RU",
    "BLR": "BY",
    "UKR": "UA",
    "ARM": "AM",
    "AZE": "AZ",
    "GEO": "GE",
    "MDA": "MD",
    "CHN": "CN",
    "MNG": "MN",
    "AFG": "AF",
    "IRN": "IR",
    "TUR": "TR",
    "PAK": "PK",
    "IND": "IN",
    "USA": "US",
    "CAN": "CA",
    "GBR": "GB",
    "FRA": "FR",
    "D": "DE",
    "DEU": "DE",
    "ITA": "IT",
    "ESP": "ES",
    "NLD": "NL",
    "BEL": "BE",
    "CHE": "CH",
    "AUT": "AT",
    "POL": "PL",
    "CZE": "CZ",
    "SVK": "SK",
    "HUN": "HU",
    "ROU": "RO",
    "BGR": "BG",
    "LVA": "LV",
    "LTU": "LT",
    "EST": "EE",
    "FIN": "FI",
    "SWE": "SE",
    "NOR": "NO",
    "DNK": "DK",
    "ISL": "IS",
    "IRL": "IE",
    "PRT": "PT",
    "GRC": "GR",
    "HRV": "HR",
    "SVN": "SI",
    "LUX": "LU",
    "JPN": "JP",
    "KOR": "KR",
    "AUS": "AU",
    "NZL": "NZ",
    "EGY": "EG",
    "ISR": "IL",
    "ARE": "AE",
    "SAU": "SA",
    "KWT": "KW",
    "QAT": "QA",
    "TWN": "TW",
    "BRA": "BR",
    # ICAO 9303 specimen state Utopia: no ISO code; test certificates for it here carry "UT".
    "UTO": "UT",
}


def alpha2_for(state: str) -> str | None:
    return ALPHA3_TO_ALPHA2.get(state.replace("<", "").upper())

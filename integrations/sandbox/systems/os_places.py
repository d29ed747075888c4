"""OS Places API (Ordnance Survey): address lookup by postcode and by UPRN.

Paths and shapes follow the real API: ``/search/places/v1/postcode`` and
``/search/places/v1/uprn``, ``key`` as query parameter or header, a
``header`` block, ``results[].DPA``, and no ``results`` key when nothing
matches. Errors are ``{"error": {"statuscode", "message"}}``.
"""

from __future__ import annotations

import re
import sqlite3
from typing import Any

from fastapi import APIRouter, Header, HTTPException, Query, Request

from integrations.sandbox.deps import DbDep
from integrations.sandbox.world import LOCAL_CUSTODIAN_CODE, World

PATH_PREFIXES = ("/search/places/",)
VALID_KEYS = {"sandbox-os-places-key"}
EPOCH = "112"

SCHEMA = """
CREATE TABLE addresses (
    uprn TEXT PRIMARY KEY,
    udprn TEXT NOT NULL,
    building_number TEXT NOT NULL,
    street TEXT NOT NULL,
    locality TEXT NOT NULL,
    town TEXT NOT NULL,
    postcode TEXT NOT NULL,
    x REAL NOT NULL,
    y REAL NOT NULL
);
CREATE INDEX addresses_postcode ON addresses (postcode);
"""

# At least the sector plus one digit of the district, e.g. "SN15 1".
_PARTIAL = re.compile(r"^[A-Z]{1,2}[0-9][0-9A-Z]?\s?[0-9]([A-Z]{0,2})$")

router = APIRouter(prefix="/search/places/v1", tags=["OS Places"])


def error_body(status: int, message: str) -> dict[str, Any]:
    return {"error": {"statuscode": status, "message": message}}


def seed(conn: sqlite3.Connection, world: World) -> None:
    conn.executemany(
        "INSERT INTO addresses VALUES (?,?,?,?,?,?,?,?,?)",
        [
            (a.uprn, a.udprn, a.building_number, a.street, a.locality, a.town, a.postcode, a.x, a.y)
            for a in world.addresses
        ],
    )


def _check_key(key: str | None, header_key: str | None) -> None:
    if (key or header_key) not in VALID_KEYS:
        raise HTTPException(401, error_body(401, "Invalid ApiKey"))


def _dpa(row: sqlite3.Row) -> dict[str, Any]:
    parts = [f"{row['building_number']}, {row['street']}", row["locality"], row["town"], row["postcode"]]
    return {
        "UPRN": row["uprn"],
        "UDPRN": row["udprn"],
        "ADDRESS": ", ".join(p for p in parts if p),
        "BUILDING_NUMBER": row["building_number"],
        "THOROUGHFARE_NAME": row["street"],
        **({"DEPENDENT_LOCALITY": row["locality"]} if row["locality"] else {}),
        "POST_TOWN": row["town"],
        "POSTCODE": row["postcode"],
        "RPC": "1",
        "X_COORDINATE": row["x"],
        "Y_COORDINATE": row["y"],
        "STATUS": "APPROVED",
        "LOGICAL_STATUS_CODE": "1",
        "CLASSIFICATION_CODE": "RD04",
        "CLASSIFICATION_CODE_DESCRIPTION": "Terraced",
        "LOCAL_CUSTODIAN_CODE": LOCAL_CUSTODIAN_CODE,
        "LOCAL_CUSTODIAN_CODE_DESCRIPTION": "WILTSHIRE",
        "COUNTRY_CODE": "E",
        "COUNTRY_CODE_DESCRIPTION": "This record is within England",
        "POSTAL_ADDRESS_CODE": "D",
        "POSTAL_ADDRESS_CODE_DESCRIPTION": "A record which is linked to PAF",
        "BLPU_STATE_CODE": None,
        "BLPU_STATE_CODE_DESCRIPTION": "Unknown/Not applicable",
        "TOPOGRAPHY_LAYER_TOID": f"osgb{row['uprn']}",
        "LAST_UPDATE_DATE": "10/02/2016",
        "ENTRY_DATE": "12/01/2000",
        "LANGUAGE": "EN",
        "MATCH": 1.0,
        "MATCH_DESCRIPTION": "EXACT",
    }


def _page(
    request: Request, rows: list[sqlite3.Row], query: str, offset: int, maxresults: int
) -> dict[str, Any]:
    page = rows[offset : offset + maxresults]
    body: dict[str, Any] = {
        "header": {
            "uri": str(request.url.remove_query_params(["key"])),
            "query": query,
            "offset": offset,
            "totalresults": len(rows),
            "format": "JSON",
            "dataset": "DPA",
            "lr": "EN,CY",
            "maxresults": maxresults,
            "epoch": EPOCH,
            "lastupdate": "2026-11-01",
            "output_srs": "EPSG:27700",
        }
    }
    if page:  # with no match the real API leaves ``results`` out altogether
        body["results"] = [{"DPA": _dpa(r)} for r in page]
    return body


@router.get("/postcode")
def by_postcode(
    request: Request,
    conn: DbDep,
    postcode: str = Query("", max_length=16),
    key: str | None = Query(None),
    key_header: str | None = Header(None, alias="key"),
    dataset: str = Query("DPA"),
    maxresults: int = Query(100, ge=1, le=100),
    offset: int = Query(0, ge=0),
) -> dict[str, Any]:
    _check_key(key, key_header)
    wanted = re.sub(r"\s+", " ", postcode.strip().upper())
    if not _PARTIAL.match(wanted):
        raise HTTPException(
            400,
            error_body(
                400,
                "Requested postcode must contain a minimum of the sector plus 1 digit of the district "
                "e.g. SO1 9. "
                f"Requested postcode was {postcode.strip()[:16]}",
            ),
        )
    if dataset.upper() not in ("DPA", "DPA,LPI", "LPI,DPA"):
        raise HTTPException(400, error_body(400, "Requested dataset is not supported"))
    compact = wanted.replace(" ", "")
    rows = conn.execute(
        "SELECT * FROM addresses WHERE replace(postcode, ' ', '') LIKE ? "
        "ORDER BY postcode, CAST(building_number AS INTEGER)",
        (compact + "%",),
    ).fetchall()
    return _page(request, rows, f"postcode={postcode}", offset, maxresults)


@router.get("/uprn")
def by_uprn(
    request: Request,
    conn: DbDep,
    uprn: str = Query("", max_length=12),
    key: str | None = Query(None),
    key_header: str | None = Header(None, alias="key"),
) -> dict[str, Any]:
    _check_key(key, key_header)
    if not uprn.isdigit():
        raise HTTPException(400, error_body(400, "Requested UPRN must only contain numbers"))
    rows = conn.execute("SELECT * FROM addresses WHERE uprn = ?", (uprn,)).fetchall()
    return _page(request, rows, f"uprn={uprn}", 0, 100)

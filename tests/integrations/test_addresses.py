"""OS Places client: unit tests on MockTransport and contract tests on the sandbox."""

from __future__ import annotations

import httpx
import pytest

from integrations.addresses import AddressClient, normalise_postcode
from integrations.errors import AuthFailed, Rejected
from integrations.settings import Endpoint, Settings
from tests.support.mock_http import mock_client


def dpa(uprn: str, number: str) -> dict:
    return {
        "DPA": {
            "UPRN": uprn,
            "ADDRESS": f"{number}, MARKET PLACE, CHIPPENHAM, SN15 1ER",
            "BUILDING_NUMBER": number,
            "THOROUGHFARE_NAME": "MARKET PLACE",
            "POST_TOWN": "CHIPPENHAM",
            "POSTCODE": "SN15 1ER",
        }
    }


def client_for(handler) -> AddressClient:
    client, _ = mock_client(AddressClient, handler, Endpoint("http://os.test", key="k"))
    return client


def test_normalise_postcode():
    assert normalise_postcode(" sn151er ") == "SN15 1ER"
    assert normalise_postcode("SP1  3JQ") == "SP1 3JQ"


async def test_find_by_postcode_sends_the_key_and_types_the_results():
    seen = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(
            200, json={"header": {"totalresults": 2}, "results": [dpa("1", "1"), dpa("2", "2")]}
        )

    addresses = await client_for(handler).find_by_postcode("sn151er")
    assert [a.uprn for a in addresses] == ["1", "2"]
    assert addresses[0].short == "1 Market Place"
    assert seen[0].headers["key"] == "k"
    assert seen[0].url.params["postcode"] == "SN15 1ER"


async def test_no_match_has_no_results_key_and_gives_an_empty_list():
    client = client_for(lambda r: httpx.Response(200, json={"header": {"totalresults": 0}}))
    assert await client.find_by_postcode("SN15 9ZZ") == []


async def test_pages_are_followed_to_the_total():
    def handler(request: httpx.Request) -> httpx.Response:
        offset = int(request.url.params["offset"])
        results = [dpa(str(offset + i), str(i)) for i in range(100 if offset == 0 else 20)]
        return httpx.Response(200, json={"header": {"totalresults": 120}, "results": results})

    assert len(await client_for(handler).find_by_postcode("SN15 1ER")) == 120


async def test_bad_key_is_auth_failed_and_bad_postcode_is_rejected():
    with pytest.raises(AuthFailed):
        await client_for(lambda r: httpx.Response(401, json={"error": {"statuscode": 401}})).find_by_postcode(
            "X"
        )
    bad = {"error": {"statuscode": 400, "message": "Requested postcode must contain ..."}}
    with pytest.raises(Rejected):
        await client_for(lambda r: httpx.Response(400, json=bad)).find_by_postcode("X")


# --- contract: the real client against the running sandbox ------------------


@pytest.fixture
async def live(clean_sandbox):
    settings = Settings.from_env({"SANDBOX_URL": clean_sandbox.url})
    async with httpx.AsyncClient() as http:
        yield AddressClient(http, settings.os_places, settings.timeouts), clean_sandbox


async def test_sandbox_has_addresses_for_sn15_1er(live):
    client, _ = live
    addresses = await client.find_by_postcode("sn15 1er")
    assert len(addresses) >= 10
    assert all(a.postcode == "SN15 1ER" and a.uprn.isdigit() for a in addresses)
    again = await client.get_by_uprn(addresses[0].uprn)
    assert again == addresses[0]


async def test_sandbox_postcode_with_no_addresses(live):
    client, _ = live
    assert await client.find_by_postcode("SN15 9ZZ") == []


async def test_sandbox_refuses_a_bad_key_and_a_malformed_postcode(live):
    client, sandbox = live
    async with httpx.AsyncClient() as http:
        wrong = AddressClient(http, Endpoint(sandbox.url, key="wrong"))
        with pytest.raises(AuthFailed):
            await wrong.find_by_postcode("SN15 1ER")
    with pytest.raises(Rejected):
        await client.find_by_postcode("not a postcode")
    raw = httpx.get(
        sandbox.url + "/search/places/v1/postcode", params={"postcode": "??", "key": "sandbox-os-places-key"}
    )
    assert raw.status_code == 400 and raw.json()["error"]["statuscode"] == 400


async def test_sandbox_fault_is_retried_then_reported(live):
    client, sandbox = live
    sandbox.fault(path="/search/places/v1/postcode", status=503, times=1)
    assert len(await client.find_by_postcode("SN15 1ER")) >= 10  # one retry absorbed it
    sandbox.fault(path="/search/places/v1/postcode", status=503)
    from integrations.errors import Unavailable

    with pytest.raises(Unavailable):
        await client.find_by_postcode("SN15 1ER")

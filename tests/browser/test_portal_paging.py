"""Issue 20 item 4: the owner's pending requests and consents are cursor-paged (``?after=`` the
last id of the previous page, a "More" link while there is more), like the activity."""

from __future__ import annotations

import re

from attestgate.gateway.portal.owner import PAGE_SIZE
from tests.browser.conftest import Deployment
from tests.browser.test_portal_http import Client

OWNER = "carol"


def _ids(body: str) -> list[str]:
    return re.findall(r'id="request-([^"]+)"', body)


def _more(body: str) -> str | None:
    found = re.search(r'href="(/owner/requests\?after=[^"]+)" id="more"', body)
    return found[1] if found else None


def test_pending_requests_are_paged_with_a_cursor(deployment: Deployment) -> None:
    made = [
        deployment.request_consent(OWNER, ["tax_year"], bank=f"bank-page-{bank}")
        for bank in range(3)
        for _ in range(9)
    ]
    client = Client(deployment)
    client.sign_in("owner", OWNER)
    first = client.request("GET", "/owner/requests")
    assert first.status == 200
    page_one = _ids(first.body)
    assert len(page_one) == PAGE_SIZE
    link = _more(first.body)
    assert link is not None
    second = client.request("GET", link)
    page_two = _ids(second.body)
    assert _more(second.body) is None  # the last page
    assert set(page_one).isdisjoint(page_two)
    assert sorted(page_one + page_two) == sorted(made)
    assert client.request("GET", "/owner/requests?after=%27%3B--").status == 400


def test_consents_page_has_no_more_link_when_all_fit(deployment: Deployment) -> None:
    client = Client(deployment)
    client.sign_in("owner", "nobody-here")
    page = client.request("GET", "/owner/consents")
    assert page.status == 200
    assert 'id="more"' not in page.body

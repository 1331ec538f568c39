"""``attestgate.gateway.testing``: the shipped local gateway that tests, benchmarks and the demo
start, used the way a bank would use it to test its integration."""

from __future__ import annotations

import pytest

from attestgate.gateway.testing import start_local_gateway
from attestgate.sdk import ConsentState, errors
from tests.integration import live


def test_a_temporary_gateway_end_to_end_and_cleaned_up() -> None:
    with start_local_gateway() as gw:
        data_dir = gw.config.data_dir
        assert data_dir.is_dir()
        assert gw.target.startswith("127.0.0.1:")
        provider = gw.provider("tax-bureau", roles=["tax_bureau"])
        provider.put_record(
            domain="income", subject="alice", record_id="r1", fields=live.INCOME_FIELDS
        )
        bank = gw.bank("bank-a")
        request = bank.request_consent(
            owner="alice", domain="income", purpose="fx_purchase", claims=["tax_year"]
        )
        consent = gw.owner("alice").approve(request.id)
        assert bank.get_consent(consent.id).state is ConsentState.ACTIVE
        assert live.wait_for_checkpoint(gw.regulator(), 3).size >= 3  # default: a 1 s interval
        with pytest.raises(errors.PermissionDenied):  # the roles given are the roles held
            gw.provider("fx-desk", roles=["tax_bureau"]).put_fx_rates(
                table_id="t", rates={"USD": live.USD_RATE}
            )
        clients = list(gw.clients)
    assert not data_dir.exists()  # the temporary data dir is removed
    assert gw.clients == []
    assert len(clients) == 5
    with pytest.raises(ValueError):  # the clients were closed with the gateway
        bank.get_consent(consent.id)

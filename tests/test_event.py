"""The canonical event as `leadrelay events` prints it (dump_event): every field, every value as it was."""

from __future__ import annotations

import dataclasses
import json

from leadrelay.event import Address, Consent, Context, Customer, LeadEvent, Sale, dump_event

# What `leadrelay events` prints for EVENT: every field, in the order LeadEvent declares them.
PRINTED = (
    '{"id":"ev-1","name":"leadGenerated","dialect":"croct","kind":"lead","sale":null,"value":100.0,"currency":"USD","exchange_rate":null,'
    '"source_id":"lead-1","customer":{"external_id":null,"first_name":"Carol","last_name":null,'
    '"emails":["carol@croct.com"],"phones":[],"avatar":null,"address":{"street":null,"district":null,'
    '"city":"San Francisco","region":null,"country":null,"postal_code":null},"company":null,"company_url":null,'
    '"job_title":null,"birth_date":null,"gender":null,"custom":{"plan":"pro"}},"click_ids":{"dub":"c1"},'
    '"visitor_id":"v1","context":{"url":"https://example.com/","referrer":null,"landing_url":null,"page_type":null,'
    '"environment":null,"data_source":null,"user_agent":null,"ip":null},"consent":{"analytics":null,'
    '"personalization":null,"marketing":true,"id":null},"cookies":{},"properties":{},"mode":null,"quantity":null,'
    '"raw":{"leadId":"lead-1"},"received_at":1700000000.5,"marks":[]}'
)

EVENT = LeadEvent(
    id="ev-1",
    name="leadGenerated",
    dialect="croct",
    value=100.0,
    currency="USD",
    source_id="lead-1",
    customer=Customer(
        first_name="Carol", emails=["carol@croct.com"], address=Address(city="San Francisco"), custom={"plan": "pro"}
    ),
    click_ids={"dub": "c1"},
    visitor_id="v1",
    context=Context(url="https://example.com/"),
    consent=Consent(marketing=True),
    raw={"leadId": "lead-1"},
    received_at=1700000000.5,
)


def test_dump_writes_every_field_in_order() -> None:
    assert dump_event(EVENT) == PRINTED


def test_a_sale_is_printed_with_its_kind_and_its_sale() -> None:
    sale = Sale(amount=1999, payment_processor="stripe", invoice_id="in_1", lead_event_name="Sign up")
    event = LeadEvent(id="s1", name="Purchase", dialect="dub", kind="sale", sale=sale, value=19.99, currency="USD")
    shown = json.loads(dump_event(event))
    assert (shown["kind"], shown["value"], shown["currency"]) == ("sale", 19.99, "USD")
    assert shown["sale"] == {"amount": 1999, "payment_processor": "stripe", "invoice_id": "in_1", "lead_event_name": "Sign up"}


def test_dump_without_raw_leaves_the_vendor_payload_out() -> None:
    shown = dump_event(EVENT, raw=False)
    assert '"raw"' not in shown and '"leadId"' not in shown
    assert '"first_name":"Carol"' in shown


def test_integers_beyond_64_bits_are_written_whole() -> None:
    # orjson refuses them; a Croct custom attribute or a Reshape property may hold one.
    event = LeadEvent(
        id="ev-2",
        name="lead",
        dialect="reshape",
        customer=Customer(custom={"big": 2**64}),
        raw={"event": {"properties": {"n": -(2**70)}}},
    )
    printed = dump_event(event)
    assert '"big":18446744073709551616' in printed and '"n":-1180591620717411303424' in printed


def test_every_value_is_written_as_it_was() -> None:
    event = LeadEvent(
        id="ev-3",
        name="lead",
        dialect="dub",
        value=1e16,
        exchange_rate=1.5e-7,
        quantity=2**63 - 1,
        properties={"text": "\u2028 é \x00 \"q\"", "list": [None, True, 0.1], "nested": {"empty": {}}},
        raw={"float": 5e-324},
    )
    assert json.loads(dump_event(event)) == dataclasses.asdict(event)

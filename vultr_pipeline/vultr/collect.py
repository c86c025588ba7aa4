"""Fetch the records of one raw table, ready for `parse_record`.

Most tables take the rows of one list endpoint as they come. Three need shaping first: the
account is a single object, account bandwidth splits into one record per period, and invoice and
pending-charge items get their position (and invoice id) because they carry no id of their own.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import datetime
from typing import Any

from vultr_pipeline.vultr.api import VultrAPI
from vultr_pipeline.vultr.client import VultrClient
from vultr_pipeline.vultr.errors import VultrResponseError
from vultr_pipeline.vultr.parsing import parse_datetime
from vultr_pipeline.vultr.records import RECORD_SPECS, bandwidth_period_records, number_lines

INVOICE_ITEM_WORKERS = 4


def collect_records(
    client: VultrClient, table: str, *, invoice_ids: Iterable[int] = ()
) -> Iterator[dict[str, Any]]:
    """Yield the API records of raw table `table`.

    Args:
        client: Client for the account.
        table: A key of `RECORD_SPECS`.
        invoice_ids: For `invoice_items`, the invoices whose items to fetch.
    """
    api = VultrAPI(client)
    endpoint = RECORD_SPECS[table].endpoint.name
    if table == "account":
        yield api.account()
    elif table == "account_bandwidth":
        yield from bandwidth_period_records(api.account_bandwidth())
    elif table == "invoice_items":
        # Several invoices are fetched at once behind the client's shared rate limiter, in
        # order, so the items stream out as they arrive. Up to twice the threads' invoices
        # stay in memory at a time, and a large account's invoice contains tens of thousands
        # of items. Fewer threads than the default therefore bound the memory. Four threads
        # still reach 30 requests per second while each request takes up to about 130 ms.
        for invoice_id, items in api.iter_invoice_items_many(
            invoice_ids, max_workers=INVOICE_ITEM_WORKERS
        ):
            yield from number_lines(items, invoice_id=invoice_id)
    elif table == "pending_charges":
        yield from number_lines(api.pending_charges())
    else:
        yield from api.list_endpoint(endpoint)


def invoice_dates(client: VultrClient) -> list[datetime]:
    """Return the date of every invoice of the account, in UTC, oldest first.

    Raises:
        VultrResponseError: An invoice has no valid `date` (reported as page 1).
    """
    dates = []
    for record in VultrAPI(client).list_endpoint(RECORD_SPECS["invoices"].endpoint.name):
        moment = parse_datetime(record.get("date"))
        if moment is None:
            raise VultrResponseError(
                f"Invoice {record.get('id')!r} has no date, so its billing month is unknown.",
                endpoint=RECORD_SPECS["invoices"].endpoint.path,
                page=1,
            )
        dates.append(moment)
    return sorted(dates)

"""Small facade over ``VultrClient`` that fetches the registered endpoints by name.

The ``*_many`` and ``list_endpoints`` methods fetch independent listings on a thread pool.
Each listing's pages still follow one another, because each page's cursor comes from the
page before it. The client's shared rate limiter spaces the requests of all threads.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from typing import Any, TypeVar

from vultr_pipeline.vultr.client import VultrClient
from vultr_pipeline.vultr.endpoints import Endpoint, format_invoice_id, get_endpoint
from vultr_pipeline.vultr.errors import VultrResponseError

# Threads per call of the concurrent methods. At 30 requests per second, 8 threads keep
# the rate limiter busy while each request takes up to 8 / 30 s, about 270 ms.
DEFAULT_MAX_WORKERS = 8

_Key = TypeVar("_Key")
_Result = TypeVar("_Result")


class _Cancelled(Exception):
    """Raised inside a worker whose call was abandoned after another worker failed."""


class VultrAPI:
    """Fetch the endpoints in ``ENDPOINTS`` by name through one client.

    Example:
        >>> api = VultrAPI(VultrClient(api_key))            # doctest: +SKIP
        >>> api.list_endpoint("instances")                  # doctest: +SKIP
    """

    def __init__(self, client: VultrClient) -> None:
        self.client = client

    def __repr__(self) -> str:
        return f"VultrAPI({self.client!r})"

    def account(self) -> dict[str, Any]:
        """Fetch ``/account`` and return the ``account`` object."""
        return self.get_object("account")

    def account_bandwidth(self) -> dict[str, Any]:
        """Fetch ``/account/bandwidth`` and return the ``bandwidth`` object of three periods."""
        return self.get_object("account_bandwidth")

    def invoice_items(
        self, invoice_id: int | str, params: dict[str, Any] | None = None
    ) -> list[dict[str, Any]]:
        """Fetch every item of one invoice, all pages, in the order Vultr sends them."""
        return self.list_endpoint("invoice_items", params, invoice_id=invoice_id)

    def pending_charges(self) -> list[dict[str, Any]]:
        """Fetch the invoice-item-shaped charges of the open month."""
        return self.list_endpoint("pending_charges")

    def get_object(self, name: str, **path_params: object) -> dict[str, Any]:
        """Fetch a single-object endpoint such as ``account`` and return the object.

        Raises:
            VultrResponseError: The response lacks the endpoint's key or it is not an object.
        """
        endpoint = get_endpoint(name)
        path = endpoint.format_path(**path_params)
        body = self.client.get(path, public=endpoint.public)
        value = body.get(endpoint.key)
        if not isinstance(value, dict):
            problem = "is missing" if value is None else "is not an object"
            raise VultrResponseError(
                f"Invalid response from GET {path} (page 1): key {endpoint.key!r} {problem}.",
                endpoint=path,
                page=1,
            )
        return value

    def iter_endpoint_pages(
        self, name: str, params: dict[str, Any] | None = None, **path_params: object
    ) -> Iterator[list[dict[str, Any]]]:
        """Yield the rows of a list endpoint page by page."""
        endpoint = _list_endpoint(name)
        path = endpoint.format_path(**path_params)
        return self.client.iter_pages(
            path, endpoint.key, params, paginated=endpoint.paginated, public=endpoint.public
        )

    def list_endpoint(
        self, name: str, params: dict[str, Any] | None = None, **path_params: object
    ) -> list[dict[str, Any]]:
        """Fetch every row of a list endpoint such as ``instances``."""
        return self._collect_pages(name, params, path_params, threading.Event())

    def invoice_items_many(
        self, invoice_ids: Iterable[int | str], max_workers: int = DEFAULT_MAX_WORKERS
    ) -> dict[int, list[dict[str, Any]]]:
        """Fetch the items of many invoices at once, keyed by invoice id.

        The dict follows the order of ``invoice_ids`` (a repeated id is fetched once), and
        each invoice's items keep the order Vultr sends them, so line numbers derived from
        positions stay the same from run to run.

        Raises:
            ValueError: An invoice id is not a whole number; nothing is sent then.
            VultrError: The first error of any invoice, as ``invoice_items`` raises it, with
                the failed invoice's path in ``endpoint``. The invoices not yet fetched are
                cancelled.
        """
        return dict(self.iter_invoice_items_many(invoice_ids, max_workers=max_workers))

    def iter_invoice_items_many(
        self, invoice_ids: Iterable[int | str], *, max_workers: int = DEFAULT_MAX_WORKERS
    ) -> Iterator[tuple[int, list[dict[str, Any]]]]:
        """Yield ``(invoice_id, items)`` in the order of ``invoice_ids``, fetching ahead.

        At most ``2 * max_workers`` invoices are fetched or waiting at a time, so a caller
        that writes each invoice before asking for the next keeps a bounded number of them
        in memory.
        Closing the iterator early cancels the invoices not yet fetched.

        Raises:
            ValueError: An invoice id is not a whole number; nothing is sent then.
            VultrError: As ``invoice_items_many``.
        """
        ids = list(dict.fromkeys(int(format_invoice_id(value)) for value in invoice_ids))
        tasks = [(invoice_id, _items_task(self, invoice_id)) for invoice_id in ids]
        return _ordered_results(tasks, max_workers)

    def list_endpoints(
        self, names: Sequence[str], max_workers: int = DEFAULT_MAX_WORKERS
    ) -> dict[str, list[dict[str, Any]]]:
        """Fetch every row of several list endpoints at once, keyed by endpoint name.

        Args:
            names: Names of list endpoints without path parameters, such as ``instances``;
                a repeated name is fetched once.
            max_workers: Endpoints fetched at the same time.

        Raises:
            KeyError: A name is not registered; nothing is sent then.
            ValueError: A name is a single-object endpoint or needs path parameters.
            VultrError: The first error of any endpoint, as ``list_endpoint`` raises it. The
                endpoints not yet fetched are cancelled.
        """
        unique = list(dict.fromkeys(names))
        for name in unique:
            endpoint = _list_endpoint(name)
            if endpoint.placeholders:
                raise ValueError(
                    f"Endpoint {name!r} needs path parameters {list(endpoint.placeholders)}; "
                    "fetch it with VultrAPI.list_endpoint, or invoice items with "
                    "VultrAPI.invoice_items_many."
                )
        tasks = [(name, _endpoint_task(self, name)) for name in unique]
        return dict(_ordered_results(tasks, max_workers))

    def _collect_pages(
        self,
        name: str,
        params: dict[str, Any] | None,
        path_params: dict[str, object],
        cancelled: threading.Event,
    ) -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = []
        for page_rows in self.iter_endpoint_pages(name, params, **path_params):
            rows.extend(page_rows)
            if cancelled.is_set():
                raise _Cancelled(name)
        return rows


def _list_endpoint(name: str) -> Endpoint:
    endpoint = get_endpoint(name)
    if endpoint.single_object:
        raise ValueError(
            f"Endpoint {name!r} returns one object, not a list; use VultrAPI.get_object."
        )
    return endpoint


_Task = Callable[[threading.Event], _Result]


def _items_task(api: VultrAPI, invoice_id: int) -> _Task[list[dict[str, Any]]]:
    def fetch(cancelled: threading.Event) -> list[dict[str, Any]]:
        return api._collect_pages("invoice_items", None, {"invoice_id": invoice_id}, cancelled)

    return fetch


def _endpoint_task(api: VultrAPI, name: str) -> _Task[list[dict[str, Any]]]:
    def fetch(cancelled: threading.Event) -> list[dict[str, Any]]:
        return api._collect_pages(name, None, {}, cancelled)

    return fetch


def _ordered_results(
    tasks: Sequence[tuple[_Key, _Task[_Result]]], max_workers: int
) -> Iterator[tuple[_Key, _Result]]:
    """Run tasks on a thread pool and yield their results in task order.

    Up to ``2 * max_workers`` tasks are submitted ahead of the one the caller waits for. The
    first task to fail stops the pool: tasks not started are cancelled, running ones stop
    after their current request, and its exception is raised unchanged.
    """
    if max_workers < 1:
        raise ValueError(f"max_workers must be at least 1, got {max_workers!r}")
    return _run_ordered(list(tasks), max_workers)


def _run_ordered(
    tasks: list[tuple[_Key, _Task[_Result]]], max_workers: int
) -> Iterator[tuple[_Key, _Result]]:
    cancelled = threading.Event()
    pending: deque[tuple[_Key, Future[_Result]]] = deque()
    next_task = 0
    executor = ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="vultr-fetch")
    try:
        while next_task < len(tasks) or pending:
            while next_task < len(tasks) and len(pending) < 2 * max_workers:
                key, task = tasks[next_task]
                pending.append((key, executor.submit(task, cancelled)))
                next_task += 1
            for _, future in pending:
                error = future.exception() if future.done() else None
                if error is not None:
                    raise error
            key, head = pending[0]
            if head.done():
                pending.popleft()
                yield key, head.result()
            else:
                running = [future for _, future in pending if not future.done()]
                wait(running, return_when=FIRST_COMPLETED)
    finally:
        cancelled.set()
        executor.shutdown(wait=True, cancel_futures=True)

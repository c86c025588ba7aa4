"""Small facade over ``VultrClient`` that fetches the registered endpoints by name."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from vultr_pipeline.vultr.client import VultrClient
from vultr_pipeline.vultr.endpoints import Endpoint, get_endpoint
from vultr_pipeline.vultr.errors import VultrResponseError


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
        rows: list[dict[str, Any]] = []
        for page_rows in self.iter_endpoint_pages(name, params, **path_params):
            rows.extend(page_rows)
        return rows


def _list_endpoint(name: str) -> Endpoint:
    endpoint = get_endpoint(name)
    if endpoint.single_object:
        raise ValueError(
            f"Endpoint {name!r} returns one object, not a list; use VultrAPI.get_object."
        )
    return endpoint

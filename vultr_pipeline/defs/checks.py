"""Asset checks that reconcile the billing tables, wrapping `vultr_pipeline.costs.reconcile`.

The invoice check and the unique-key checks are blocking. When an invoice's items do not add up
to its amount, or a raw table contains two rows with one key, the cost assets downstream do not
run, because every figure they produce would inherit the gap or count a charge twice. The
other checks report without stopping the run.
"""

import dagster as dg
import pandas as pd

from vultr_pipeline.costs import reconcile
from vultr_pipeline.costs.reconcile import Finding
from vultr_pipeline.defs.metadata import markdown_preview
from vultr_pipeline.defs.partitions import Partitions
from vultr_pipeline.defs.tables import MONTHLY_TABLES, order_by
from vultr_pipeline.vultr.records import RECORD_SPECS, RecordSpec

RAW_PREFIX = "vultr_raw"
COST_LINE_ITEMS_KEY = dg.AssetKey(["vultr_costs", "cost_line_items"])
# Messages beyond this many are counted in metadata but left out of the description.
MAX_MESSAGES = 10


def _raw_key(table: str) -> dg.AssetKey:
    return dg.AssetKey([RAW_PREFIX, table])


def check_result(
    findings: list[Finding],
    severity: dg.AssetCheckSeverity = dg.AssetCheckSeverity.ERROR,
    **metadata: object,
) -> dg.AssetCheckResult:
    """Turn findings into a check result whose description lists the first messages."""
    messages = [finding.message for finding in findings[:MAX_MESSAGES]]
    if len(findings) > MAX_MESSAGES:
        messages.append(f"... and {len(findings) - MAX_MESSAGES} more")
    details: dict[str, object] = {"findings": dg.MetadataValue.int(len(findings)), **metadata}
    if findings:
        preview = markdown_preview(reconcile.findings_frame(findings), rows=MAX_MESSAGES)
        details["preview"] = dg.MetadataValue.md(preview)
    return dg.AssetCheckResult(
        passed=not findings,
        severity=severity,
        description="\n".join(messages) if messages else "No discrepancies.",
        metadata=details,
    )


def _invoice_check(partitions: Partitions) -> dg.AssetChecksDefinition:
    @dg.asset_check(
        asset=_raw_key("invoice_items"),
        additional_ins={"invoices": dg.AssetIn(key=_raw_key("invoices"))},
        blocking=True,
        partitions_def=partitions.monthly,
    )
    def invoice_items_match_invoices(
        invoice_items: pd.DataFrame, invoices: pd.DataFrame
    ) -> dg.AssetCheckResult:
        """Check that each invoice's items add up to the invoice amount, to the cent."""
        findings = reconcile.check_invoice_totals(invoices, invoice_items)
        return check_result(findings, invoices=dg.MetadataValue.int(len(invoices)))

    return invoice_items_match_invoices


def _pending_check(partitions: Partitions) -> dg.AssetChecksDefinition:
    # Pending charges grow every hour and the account row comes from another request, so a
    # mismatch can come from the time between the two requests. That is why this check warns
    # and never blocks.
    @dg.asset_check(
        asset=_raw_key("pending_charges"),
        additional_ins={"account": dg.AssetIn(key=_raw_key("account"))},
        partitions_def=partitions.daily,
    )
    def pending_charges_match_account(
        pending_charges: pd.DataFrame, account: pd.DataFrame
    ) -> dg.AssetCheckResult:
        """Check that the open month's pending items add up to the account's `pending_charges`."""
        findings = reconcile.check_pending_total(pending_charges, account)
        return check_result(findings, severity=dg.AssetCheckSeverity.WARN)

    return pending_charges_match_account


def _balance_check(partitions: Partitions) -> dg.AssetChecksDefinition:
    @dg.asset_check(asset=_raw_key("billing_history"), partitions_def=partitions.daily)
    def billing_history_balance_continuous(
        billing_history: pd.DataFrame,
    ) -> dg.AssetCheckResult:
        """Check that each billing-history balance is the previous one plus the row's amount.

        Invoices and charges raise the balance, while credits and payments lower it. Other
        row types pass when the balance moved by their amount in either direction.
        """
        findings = reconcile.check_balance_continuity(billing_history)
        return check_result(findings, rows=dg.MetadataValue.int(len(billing_history)))

    return billing_history_balance_continuous


def build_unique_key_check(spec: RecordSpec, partitions: Partitions) -> dg.AssetChecksDefinition:
    """Define the check that no two rows of raw table `spec.table` share their key."""
    keys = order_by(spec)
    partitions_def = partitions.monthly if spec.table in MONTHLY_TABLES else partitions.daily

    @dg.asset_check(
        asset=_raw_key(spec.table),
        name="unique_keys",
        description=f"No two rows share the key ({', '.join(keys)}).",
        partitions_def=partitions_def,
        blocking=True,
    )
    def unique_keys(frame: pd.DataFrame) -> dg.AssetCheckResult:
        findings = reconcile.check_unique_keys(frame, keys, f"{RAW_PREFIX}.{spec.table}")
        return check_result(findings, key=dg.MetadataValue.text(", ".join(keys)))

    return unique_keys


def _service_category_check(partitions: Partitions) -> dg.AssetChecksDefinition:
    @dg.asset_check(asset=COST_LINE_ITEMS_KEY, partitions_def=partitions.monthly)
    def cost_line_items_have_service_category(
        cost_line_items: pd.DataFrame,
    ) -> dg.AssetCheckResult:
        """Check that every cost line item has an allowed service category and a unique id."""
        findings = reconcile.check_service_categories(cost_line_items)
        findings += reconcile.check_unique_keys(
            cost_line_items, ["account_id", "line_id"], "vultr_costs.cost_line_items"
        )
        return check_result(findings, lines=dg.MetadataValue.int(len(cost_line_items)))

    return cost_line_items_have_service_category


def build_raw_checks(partitions: Partitions) -> list[dg.AssetChecksDefinition]:
    """Define every check on the raw tables."""
    checks = [_invoice_check(partitions), _pending_check(partitions), _balance_check(partitions)]
    checks += [build_unique_key_check(spec, partitions) for spec in RECORD_SPECS.values()]
    return checks


def build_checks(partitions: Partitions) -> list[dg.AssetChecksDefinition]:
    """Define every check on the raw tables and the cost line items."""
    return [*build_raw_checks(partitions), _service_category_check(partitions)]

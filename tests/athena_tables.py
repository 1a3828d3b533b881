"""Glue column lists of a CUR 2.0 table and of an AWS FOCUS 1.0 table as Athena sees them
(names lower case; the Parquet types AWS Data Exports writes), for the Athena tests and the
README's queries."""

from __future__ import annotations

CUR2_COLUMNS = {
    "identity_line_item_id": "string",
    "bill_payer_account_id": "string",
    "bill_payer_account_name": "string",
    "bill_billing_period_start_date": "timestamp",
    "line_item_usage_account_id": "string",
    "line_item_usage_account_name": "string",
    "line_item_line_item_type": "string",
    "line_item_usage_start_date": "timestamp",
    "line_item_product_code": "string",
    "line_item_unblended_cost": "double",
    "line_item_currency_code": "string",
    "pricing_public_on_demand_cost": "double",
    "product": "map<string,string>",
    "product_region_code": "string",
    "resource_tags": "map<string,string>",
    "savings_plan_savings_plan_effective_cost": "double",
    "savings_plan_total_commitment_to_date": "double",
    "savings_plan_used_commitment": "double",
    "reservation_effective_cost": "double",
    "reservation_unused_amortized_upfront_fee_for_billing_period": "double",
    "reservation_unused_recurring_fee": "double",
    "reservation_reservation_a_r_n": "string",
}
FOCUS_COLUMNS = {
    "billedcost": "double",
    "billingaccountid": "string",
    "billingaccountname": "string",
    "billingcurrency": "string",
    "billingperiodstart": "timestamp",
    "chargecategory": "string",
    "chargeperiodstart": "timestamp",
    "commitmentdiscountcategory": "string",
    "commitmentdiscountstatus": "string",
    "commitmentdiscounttype": "string",
    "effectivecost": "double",
    "listcost": "double",
    "pricingcategory": "string",
    "providername": "string",
    "regionid": "string",
    "servicecategory": "string",
    "servicename": "string",
    "subaccountid": "string",
    "subaccountname": "string",
    "tags": "map<string,string>",
}

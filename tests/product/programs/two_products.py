"""Two data products in one program: this project's (from the stack file) and a second, in code."""

import pulumi

from components.config import PROJECT
from components.data_api import DataApi, stack_args

employees = DataApi(PROJECT, stack_args())
inventory = DataApi("inventory", {
    "source": {"bucket": "acme-inventory-exports", "key": "exports/stock.csv",
               "partition_column": "warehouse", "item_column": "sku", "column_types": {"onHand": "integer"}},
    "customers": [
        # The same customer name as the first product's: the products' names keep their AWS names apart.
        {"name": "globex", "quota": {"limit": 5000, "period": "DAY"}, "throttle": {"rate_limit": 5, "burst_limit": 10}},
        {"name": "wayne", "quota": {"limit": 100, "period": "WEEK", "offset": 2},
         "throttle": {"rate_limit": 1, "burst_limit": 2}},
    ],
    "internal_keys": ["support"],
    "api": {"collection": "warehouses", "cache": {"size_gb": "0.5"}},
    "alerts": {"emails": ["inventory-oncall@example.com"], "freshness_hours": 30},
})

for product in (employees, inventory):
    pulumi.export(f"{product._name}BaseUrl", product.api_base_url)
    pulumi.export(f"{product._name}FunctionName", product.loader_function_name)

"""Two data products in one Pulumi program, from the data-api package.

`pip install "data-api @ git+https://<host>/<org>/data-api"` (requirements.txt installs it from this
clone) gives `data_api`; each DataApi is a whole product: table, loader, API, keys, alerts, dashboard.
"""

import pulumi

from data_api import DataApi, DataApiArgs

employees: DataApiArgs = {
    "source": {"bucket": "acme-hr-exports", "key": "exports/employees.csv",
               "column_types": {"salary": "integer", "fullTime": "boolean"}},
    "customers": [
        {"name": "globex", "quota": {"limit": 100000, "period": "MONTH"},
         "throttle": {"rate_limit": 20, "burst_limit": 40}},
    ],
    "internal_keys": [{"name": "support"}],
    "alerts": {"emails": ["data-platform-oncall@example.com"]},
}

inventory: DataApiArgs = {
    "source": {"bucket": "acme-inventory-exports", "prefix": "stock/", "partition_column": "warehouse",
               "item_column": "sku", "column_types": {"onHand": "integer"}},
    "customers": [
        {"name": "globex", "quota": {"limit": 5000, "period": "DAY"},
         "throttle": {"rate_limit": 5, "burst_limit": 10}},
    ],
    "api": {"collection": "warehouses"},
    "alerts": {"emails": ["inventory-oncall@example.com"], "dashboard": False},
}

# Named after the project, a product's AWS names are `<project>-<stack>-...`; any other name is part
# of its AWS names too, so the two never collide.
for name, args in (("employees", employees), ("inventory", inventory)):
    product = DataApi(name, args)
    pulumi.export(f"{name}BaseUrl", product.api_base_url)
    pulumi.export(f"{name}RouteUrls", product.api_route_urls)
    pulumi.export(f"{name}ApiKeys", product.api_keys)
    pulumi.export(f"{name}SourceBucket", product.source_bucket_name)

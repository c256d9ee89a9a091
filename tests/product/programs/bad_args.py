"""A program whose DataApi args break a rule, to see the error name the product."""

from components.data_api import DataApi

DataApi("orders", {
    "source": {"bucket": "acme-orders", "key": "orders.csv"},
    "customers": [{"name": "globex", "quota": {"limit": 1, "period": "YEAR"},
                   "throttle": {"rate_limit": 1, "burst_limit": 1}}],
})

"""data-api: a CSV dropped into S3 becomes a metered JSON API."""

import pulumi

from components.config import load_config
from components.table import DataTable, TableArgs

config = load_config()

table = DataTable("data", TableArgs(config=config.table))

pulumi.export("tableName", table.name)
pulumi.export("tableArn", table.arn)

"""AWS as a source: Cost Explorer cost (`cost_explorer`), the resource inventory across member
accounts and regions (`inventory`), and CUR 2.0 / FOCUS tables aggregated by Athena
(`athena`). `session` makes every client: adaptive retries, endpoints left to botocore."""

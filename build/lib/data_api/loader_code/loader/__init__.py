"""The loader: a CSV object in S3 becomes one DynamoDB item per partition value, plus a snapshot."""

output "bucket_id" {
  description = "Name of the bundle bucket."
  value       = aws_s3_bucket.this.id
}

output "bucket_arn" {
  description = "ARN of the bundle bucket."
  value       = aws_s3_bucket.this.arn
}

output "access_logs_bucket_id" {
  description = "Name of the S3 server access-log bucket."
  value       = aws_s3_bucket.access_logs.id
}

output "raw_root" {
  description = "S3 URI of the raw-file archive (the covid19_raw_root Airflow Variable)."
  value       = "s3://${aws_s3_bucket.this.id}/raw"
}

output "reports_root" {
  description = "S3 URI where the DAG writes its static HTML reports."
  value       = "s3://${aws_s3_bucket.this.id}/reports"
}

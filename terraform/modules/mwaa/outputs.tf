output "environment_name" {
  description = "Name of the MWAA environment."
  value       = aws_mwaa_environment.this.name
}

output "environment_arn" {
  description = "ARN of the MWAA environment."
  value       = aws_mwaa_environment.this.arn
}

output "webserver_url" {
  description = "Airflow UI host name."
  value       = aws_mwaa_environment.this.webserver_url
}

output "execution_role_arn" {
  description = "ARN of the execution role."
  value       = aws_iam_role.execution.arn
}

output "security_group_id" {
  description = "Security group of the environment (the database admits it on 5432)."
  value       = aws_security_group.this.id
}

output "dags_s3_prefix" {
  description = "Prefix of the DAG files in the bucket."
  value       = local.dags_prefix
}

output "plugins_s3_key" {
  description = "Key of plugins.zip."
  value       = aws_s3_object.plugins.key
}

output "requirements_s3_key" {
  description = "Key of requirements.txt."
  value       = aws_s3_object.requirements.key
}

output "startup_script_s3_key" {
  description = "Key of startup.sh."
  value       = aws_s3_object.startup.key
}

output "connections_prefix" {
  description = "Secrets Manager prefix of Airflow Connections."
  value       = local.connections_prefix
}

output "variables_prefix" {
  description = "Secrets Manager prefix of Airflow Variables."
  value       = local.variables_prefix
}

output "warehouse_secret_arn" {
  description = "ARN of the covid19_warehouse connection secret."
  value       = aws_secretsmanager_secret.warehouse.arn
}

output "warehouse_secret_name" {
  description = "Name of the covid19_warehouse connection secret."
  value       = aws_secretsmanager_secret.warehouse.name
}

output "variable_secret_names" {
  description = "Names of the Airflow Variable secrets, by variable key."
  value       = { for k, s in aws_secretsmanager_secret.variable : k => s.name }
}

output "address" {
  description = "DNS name of the instance (private)."
  value       = aws_db_instance.this.address
}

output "port" {
  description = "Database port."
  value       = aws_db_instance.this.port
}

output "db_name" {
  description = "Database name."
  value       = aws_db_instance.this.db_name
}

output "username" {
  description = "Master user name."
  value       = aws_db_instance.this.username
}

output "resource_id" {
  description = "The instance's DbiResourceId; it changes only when the instance is replaced."
  value       = aws_db_instance.this.resource_id
}

output "arn" {
  description = "ARN of the instance."
  value       = aws_db_instance.this.arn
}

output "security_group_id" {
  description = "Security group of the database."
  value       = aws_security_group.this.id
}

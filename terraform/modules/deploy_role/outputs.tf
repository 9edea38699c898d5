output "role_arn" {
  description = "ARN to put in the repository variable AWS_DEPLOY_ROLE_ARN."
  value       = aws_iam_role.this.arn
}

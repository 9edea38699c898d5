output "topic_arn" {
  description = "ARN of the notification topic (the covid19_sns_topic_arn Airflow Variable)."
  value       = aws_sns_topic.this.arn
}

output "email_subscriptions" {
  description = "Subscribed e-mail addresses (pending until confirmed)."
  value       = sort(keys(aws_sns_topic_subscription.email))
}

# The topic the DAG's notify task (and failure callbacks) publish to. KMS-encrypted; publishers
# need kms:GenerateDataKey*/Decrypt on the key, which the MWAA execution role has via SNS.

resource "aws_sns_topic" "this" {
  name              = var.name
  display_name      = var.display_name
  kms_master_key_id = var.kms_key_arn
  tags              = var.tags
}

data "aws_iam_policy_document" "topic" {
  # Who may publish is decided by IAM (the MWAA execution role has sns:Publish on this topic
  # only); the topic policy adds a TLS-only guard rail for everyone.
  statement {
    sid       = "DenyInsecureTransport"
    effect    = "Deny"
    actions   = ["sns:Publish"]
    resources = [aws_sns_topic.this.arn]

    principals {
      type        = "*"
      identifiers = ["*"]
    }

    condition {
      test     = "Bool"
      variable = "aws:SecureTransport"
      values   = ["false"]
    }
  }
}

resource "aws_sns_topic_policy" "this" {
  arn    = aws_sns_topic.this.arn
  policy = data.aws_iam_policy_document.topic.json
}

# Each address receives a confirmation mail from AWS; nothing is delivered until it is clicked.
resource "aws_sns_topic_subscription" "email" {
  for_each = toset(var.email_addresses)

  topic_arn = aws_sns_topic.this.arn
  protocol  = "email"
  endpoint  = each.value
}

# One customer managed key for the project's data at rest: the bundle bucket, the SNS topic,
# the Secrets Manager secrets, the RDS storage and Performance Insights, and the VPC flow-log
# group. One key keeps the key policy reviewable in one place and costs $1/month.

data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}
data "aws_region" "current" {}

data "aws_iam_policy_document" "key" {
  #checkov:skip=CKV_AWS_111:A key policy's Resource "*" means this key only; write access is limited to the account, the logs service for this account's log groups, and CloudWatch alarms encrypting what they publish to the topic.
  #checkov:skip=CKV_AWS_356:In a key policy "*" is the key itself; there is nothing narrower to name.
  #checkov:skip=CKV_AWS_109:The account-root statement is the default KMS key policy; without it the key becomes unmanageable.
  # Key administration stays with the account (IAM policies decide who), the AWS default.
  # Without this statement the key would become unmanageable.
  statement {
    sid       = "AccountAdministration"
    effect    = "Allow"
    actions   = ["kms:*"]
    resources = ["*"]

    principals {
      type        = "AWS"
      identifiers = ["arn:${data.aws_partition.current.partition}:iam::${data.aws_caller_identity.current.account_id}:root"]
    }
  }

  # CloudWatch Logs encrypts the VPC flow-log group with this key. The service principal is
  # scoped to log groups of this account and region through the encryption context.
  statement {
    sid    = "CloudWatchLogs"
    effect = "Allow"
    actions = [
      "kms:Encrypt",
      "kms:Decrypt",
      "kms:ReEncrypt*",
      "kms:GenerateDataKey*",
      "kms:DescribeKey",
    ]
    resources = ["*"]

    principals {
      type        = "Service"
      identifiers = ["logs.${data.aws_region.current.region}.amazonaws.com"]
    }

    condition {
      test     = "ArnLike"
      variable = "kms:EncryptionContext:aws:logs:arn"
      values   = ["arn:${data.aws_partition.current.partition}:logs:${data.aws_region.current.region}:${data.aws_caller_identity.current.account_id}:log-group:*"]
    }
  }

  # CloudWatch alarms publish to the encrypted SNS topic (the scheduler heartbeat alarm): SNS
  # needs a data key for each message, made with the publisher's rights. Which alarms may
  # publish is the topic policy's decision (its own alarms, by ARN).
  statement {
    sid       = "CloudWatchAlarmsToSns"
    effect    = "Allow"
    actions   = ["kms:Decrypt", "kms:GenerateDataKey*"]
    resources = ["*"]

    principals {
      type        = "Service"
      identifiers = ["cloudwatch.amazonaws.com"]
    }
  }
}

resource "aws_kms_key" "this" {
  description             = "${var.name}: data at rest (bundle bucket, SNS, secrets, RDS, logs)"
  enable_key_rotation     = true
  deletion_window_in_days = var.deletion_window_in_days
  policy                  = data.aws_iam_policy_document.key.json
  tags                    = var.tags
}

resource "aws_kms_alias" "this" {
  name          = "alias/${var.name}"
  target_key_id = aws_kms_key.this.key_id
}

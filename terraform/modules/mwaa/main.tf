# The MWAA environment, its execution role (least privilege), its security group, and the
# Terraform-owned objects in the bundle bucket (startup.sh and the first placeholder
# plugins.zip/requirements.txt; `make deploy` uploads the real bundle afterwards).

data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}
data "aws_region" "current" {}

locals {
  account_id = data.aws_caller_identity.current.account_id
  partition  = data.aws_partition.current.partition
  region     = data.aws_region.current.region

  environment_arn = "arn:${local.partition}:airflow:${local.region}:${local.account_id}:environment/${var.name}"

  dags_prefix       = "dags"
  plugins_key       = "plugins.zip"
  requirements_key  = "requirements.txt"
  startup_key       = "startup.sh"
  writable_prefixes = ["raw/", "reports/"]

  airflow_configuration_options = merge(
    var.extra_airflow_configuration_options,
    {
      # Connections and Variables come from Secrets Manager (see the airflow_settings module).
      "secrets.backend" = "airflow.providers.amazon.aws.secrets.secrets_manager.SecretsManagerBackend"
      "secrets.backend_kwargs" = jsonencode({
        connections_prefix = var.connections_prefix
        variables_prefix   = var.variables_prefix
        # Only names of this project go to Secrets Manager: fewer API calls (each costs), and
        # aws_default falls through to the execution role's credentials.
        connections_lookup_pattern = var.secrets_lookup_pattern
        variables_lookup_pattern   = var.secrets_lookup_pattern
      })
      "core.load_examples" = "False"
    },
  )
}

# ---------------------------------------------------------------------------------------------
# Objects in the bundle bucket owned by Terraform
# ---------------------------------------------------------------------------------------------
# startup.sh exports the settings the DAG files read at parse time (COVID19_ETL_START_DATE,
# the retry window, the landing deadline, the warehouse's address). Its object version is passed
# to MWAA, so changing them updates the environment.
resource "aws_s3_object" "startup" {
  bucket       = var.bucket_id
  key          = local.startup_key
  content_type = "text/x-shellscript"
  content = templatefile("${path.module}/templates/startup.sh.tftpl", {
    etl_start_date               = var.etl_start_date
    etl_retry_window_minutes     = var.etl_retry_window_minutes
    etl_landing_deadline_minutes = var.etl_landing_deadline_minutes
    warehouse_location           = var.warehouse_location
    extra_env                    = var.extra_environment
  })
  tags = var.tags
}

# MWAA needs plugins.zip and requirements.txt (with versions) to exist when the environment is
# created. Terraform seeds empty placeholders once; `make deploy` then uploads the real files
# and points the environment at their new versions. ignore_changes = all keeps Terraform from
# ever overwriting a deployed bundle, while the next refresh reads the deployed version_id, so
# the environment below keeps pointing at what was deployed.
resource "aws_s3_object" "plugins" {
  bucket = var.bucket_id
  key    = local.plugins_key
  # An empty zip archive (just the end-of-central-directory record).
  content_base64 = "UEsFBgAAAAAAAAAAAAAAAAAAAAAAAA=="
  content_type   = "application/zip"
  tags           = var.tags

  lifecycle {
    ignore_changes = all
  }
}

resource "aws_s3_object" "requirements" {
  bucket       = var.bucket_id
  key          = local.requirements_key
  content      = "# Placeholder written by Terraform; replaced by `make deploy`.\n"
  content_type = "text/plain"
  tags         = var.tags

  lifecycle {
    ignore_changes = all
  }
}

# ---------------------------------------------------------------------------------------------
# Security group
# ---------------------------------------------------------------------------------------------
resource "aws_security_group" "this" {
  name_prefix = "${var.name}-mwaa-"
  description = "MWAA environment ${var.name}"
  vpc_id      = var.vpc_id
  tags        = merge(var.tags, { Name = "${var.name}-mwaa" })

  lifecycle {
    create_before_destroy = true
  }
}

# MWAA requires a self-referencing rule: its components talk to each other.
resource "aws_vpc_security_group_ingress_rule" "self" {
  security_group_id            = aws_security_group.this.id
  description                  = "MWAA components talk to each other"
  referenced_security_group_id = aws_security_group.this.id
  ip_protocol                  = "-1"
  tags                         = var.tags
}

# Private web server access (VPN, bastion, peered network): HTTPS from the listed CIDRs only.
resource "aws_vpc_security_group_ingress_rule" "webserver" {
  for_each = toset(var.webserver_ingress_cidrs)

  security_group_id = aws_security_group.this.id
  description       = "Airflow UI over HTTPS"
  cidr_ipv4         = each.value
  ip_protocol       = "tcp"
  from_port         = 443
  to_port           = 443
  tags              = var.tags
}

resource "aws_vpc_security_group_egress_rule" "all" {
  #checkov:skip=CKV_AWS_382:MWAA documents an all-traffic outbound rule; the DAG downloads from GitHub, installs from PyPI and reaches AWS APIs, RDS and its own components.
  security_group_id = aws_security_group.this.id
  description       = "MWAA outbound (AWS APIs, RDS, PyPI, upstream CSVs)"
  cidr_ipv4         = "0.0.0.0/0"
  ip_protocol       = "-1"
  tags              = var.tags
}

# ---------------------------------------------------------------------------------------------
# Execution role
# ---------------------------------------------------------------------------------------------
data "aws_iam_policy_document" "assume" {
  statement {
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = ["airflow.amazonaws.com", "airflow-env.amazonaws.com"]
    }

    # Confused-deputy protection as MWAA documents it: only this environment may assume it.
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }

    condition {
      test     = "ArnLike"
      variable = "aws:SourceArn"
      values   = [local.environment_arn]
    }
  }
}

data "aws_iam_policy_document" "execution" {
  statement {
    sid       = "PublishMetrics"
    actions   = ["airflow:PublishMetrics"]
    resources = [local.environment_arn]
  }

  # MWAA's documented bucket access: read the whole bucket (dags/, plugins.zip, ...).
  statement {
    sid       = "DenyListAllBuckets"
    effect    = "Deny"
    actions   = ["s3:ListAllMyBuckets"]
    resources = [var.bucket_arn, "${var.bucket_arn}/*"]
  }

  statement {
    sid = "ReadBundleBucket"
    actions = [
      "s3:GetObject*",
      "s3:GetBucket*",
      "s3:List*",
    ]
    resources = [var.bucket_arn, "${var.bucket_arn}/*"]
  }

  # The DAG writes only its archive and its reports; it cannot overwrite its own code.
  statement {
    sid       = "WriteRawAndReports"
    actions   = ["s3:PutObject"]
    resources = [for p in local.writable_prefixes : "${var.bucket_arn}/${p}*"]
  }

  statement {
    sid       = "AccountPublicAccessBlock"
    actions   = ["s3:GetAccountPublicAccessBlock"]
    resources = ["*"]
  }

  statement {
    sid = "WriteAirflowLogs"
    actions = [
      "logs:CreateLogStream",
      "logs:CreateLogGroup",
      "logs:PutLogEvents",
      "logs:GetLogEvents",
      "logs:GetLogRecord",
      "logs:GetLogGroupFields",
      "logs:GetQueryResults",
    ]
    resources = ["arn:${local.partition}:logs:${local.region}:${local.account_id}:log-group:airflow-${var.name}-*"]
  }

  statement {
    sid       = "DescribeLogGroups"
    actions   = ["logs:DescribeLogGroups"]
    resources = ["*"]
  }

  statement {
    sid       = "PutMetrics"
    actions   = ["cloudwatch:PutMetricData"]
    resources = ["*"]
  }

  # MWAA's Celery queue lives in an AWS-owned account, hence the account wildcard.
  statement {
    sid = "CeleryQueue"
    actions = [
      "sqs:ChangeMessageVisibility",
      "sqs:DeleteMessage",
      "sqs:GetQueueAttributes",
      "sqs:GetQueueUrl",
      "sqs:ReceiveMessage",
      "sqs:SendMessage",
    ]
    resources = ["arn:${local.partition}:sqs:${local.region}:*:airflow-celery-*"]
  }

  # The environment uses an AWS owned key (AWS's recommendation for MWAA): its SQS queue is
  # encrypted with a key outside this account, reachable only through SQS.
  statement {
    sid = "AwsOwnedKeyViaSqs"
    actions = [
      "kms:Decrypt",
      "kms:DescribeKey",
      "kms:GenerateDataKey*",
      "kms:Encrypt",
    ]
    not_resources = ["arn:${local.partition}:kms:*:${local.account_id}:key/*"]

    condition {
      test     = "StringLike"
      variable = "kms:ViaService"
      values   = ["sqs.${local.region}.amazonaws.com"]
    }
  }

  # The project key protects the bucket (SSE-KMS), the SNS topic and the secrets; it is usable
  # only through those three services.
  statement {
    sid = "ProjectKeyViaServices"
    actions = [
      "kms:Decrypt",
      "kms:DescribeKey",
      "kms:GenerateDataKey*",
    ]
    resources = [var.kms_key_arn]

    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values = [
        "s3.${local.region}.amazonaws.com",
        "sns.${local.region}.amazonaws.com",
        "secretsmanager.${local.region}.amazonaws.com",
      ]
    }
  }

  statement {
    sid       = "PublishNotifications"
    actions   = ["sns:Publish"]
    resources = [var.sns_topic_arn]
  }

  statement {
    sid = "ReadAirflowSecrets"
    actions = [
      "secretsmanager:GetSecretValue",
      "secretsmanager:DescribeSecret",
    ]
    resources = ["arn:${local.partition}:secretsmanager:${local.region}:${local.account_id}:secret:${var.secrets_prefix}/*"]
  }
}

resource "aws_iam_role" "execution" {
  name                 = "${var.name}-mwaa-execution"
  description          = "Execution role of the MWAA environment ${var.name}"
  assume_role_policy   = data.aws_iam_policy_document.assume.json
  permissions_boundary = var.permissions_boundary_arn
  tags                 = var.tags
}

resource "aws_iam_role_policy" "execution" {
  name   = "mwaa-execution"
  role   = aws_iam_role.execution.id
  policy = data.aws_iam_policy_document.execution.json
}

# ---------------------------------------------------------------------------------------------
# Environment
# ---------------------------------------------------------------------------------------------
resource "aws_mwaa_environment" "this" {
  name               = var.name
  airflow_version    = var.airflow_version
  environment_class  = var.environment_class
  min_workers        = var.min_workers
  max_workers        = var.max_workers
  execution_role_arn = aws_iam_role.execution.arn
  # No kms_key: MWAA encrypts its own data with an AWS owned key, as AWS recommends; our data
  # (bucket, secrets, topic, database) is under the project key.

  source_bucket_arn = var.bucket_arn
  dag_s3_path       = local.dags_prefix

  plugins_s3_path                  = aws_s3_object.plugins.key
  plugins_s3_object_version        = aws_s3_object.plugins.version_id
  requirements_s3_path             = aws_s3_object.requirements.key
  requirements_s3_object_version   = aws_s3_object.requirements.version_id
  startup_script_s3_path           = aws_s3_object.startup.key
  startup_script_s3_object_version = aws_s3_object.startup.version_id

  airflow_configuration_options = local.airflow_configuration_options

  webserver_access_mode           = var.webserver_access_mode
  weekly_maintenance_window_start = var.weekly_maintenance_window_start

  network_configuration {
    security_group_ids = [aws_security_group.this.id]
    subnet_ids         = var.subnet_ids
  }

  # Every component logs to CloudWatch.
  logging_configuration {
    dag_processing_logs {
      enabled   = true
      log_level = var.log_level
    }

    scheduler_logs {
      enabled   = true
      log_level = var.log_level
    }

    task_logs {
      enabled   = true
      log_level = var.log_level
    }

    webserver_logs {
      enabled   = true
      log_level = var.log_level
    }

    worker_logs {
      enabled   = true
      log_level = var.log_level
    }
  }

  tags = var.tags

  # The role's policy must exist before MWAA validates the role.
  depends_on = [aws_iam_role_policy.execution]
}

# ---------------------------------------------------------------------------------------------
# A stopped scheduler, reported from outside Airflow
# ---------------------------------------------------------------------------------------------
# The watchdog DAG runs on the scheduler it would have to report. MWAA publishes Airflow's
# scheduler_heartbeat counter as SchedulerHeartbeat (namespace AmazonMWAA, dimensions Function
# and Environment); the scheduler beats every few seconds while it runs, so a window with no
# beat at all (missing data counts as breaching) means it is down or stuck. The same topic
# hears when it is back.
resource "aws_cloudwatch_metric_alarm" "scheduler_heartbeat" {
  alarm_name        = "${var.name}-scheduler-heartbeat"
  alarm_description = "No heartbeat from the scheduler of MWAA environment ${var.name} for ${var.scheduler_down_alarm_minutes} minutes: no DAG is being scheduled, the covid19_etl_watchdog included. Check the environment's status and its scheduler logs in CloudWatch."

  namespace   = "AmazonMWAA"
  metric_name = "SchedulerHeartbeat"
  dimensions = {
    Function    = "Scheduler"
    Environment = aws_mwaa_environment.this.name
  }
  statistic           = "Sum"
  period              = 300
  evaluation_periods  = var.scheduler_down_alarm_minutes / 5
  comparison_operator = "LessThanThreshold"
  threshold           = 1
  treat_missing_data  = "breaching"

  alarm_actions = [var.sns_topic_arn]
  ok_actions    = [var.sns_topic_arn]
  tags          = var.tags
}

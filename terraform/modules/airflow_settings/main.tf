# Airflow Connections and Variables as Secrets Manager secrets, read by Airflow's
# SecretsManagerBackend (configured on the MWAA environment with the same prefixes), so the
# DAG runs with no manual setup in the Airflow UI.

locals {
  connections_prefix = "${var.secrets_prefix}/connections"
  variables_prefix   = "${var.secrets_prefix}/variables"
}

# ---------------------------------------------------------------------------------------------
# Connection covid19_warehouse (PostgreSQL)
# ---------------------------------------------------------------------------------------------
resource "aws_secretsmanager_secret" "warehouse" {
  #checkov:skip=CKV2_AWS_57:Not rotated by a Lambda: the password is rotated by bumping db_password_version, which rewrites RDS and this secret in the same apply.
  name                    = "${local.connections_prefix}/${var.warehouse_conn_id}"
  description             = "Airflow connection ${var.warehouse_conn_id}: the COVID-19 warehouse on RDS PostgreSQL"
  kms_key_id              = var.kms_key_arn
  recovery_window_in_days = var.recovery_window_in_days
  tags                    = var.tags
}

# Replaced when the database instance is replaced, because a new instance is created with the
# password of that apply, which must then be written here too.
resource "terraform_data" "warehouse_instance" {
  input = var.warehouse.instance_resource_id
}

resource "aws_secretsmanager_secret_version" "warehouse" {
  secret_id = aws_secretsmanager_secret.warehouse.id
  # JSON form understood by SecretsManagerBackend: conn_type/host/port/login/password/schema
  # plus extra. Write-only, so the password never reaches the Terraform state.
  secret_string_wo = jsonencode({
    conn_type = "postgres"
    host      = var.warehouse.host
    port      = var.warehouse.port
    login     = var.warehouse.username
    password  = var.warehouse_password
    schema    = var.warehouse.db_name
    extra = {
      sslmode = "require"
    }
  })
  secret_string_wo_version = var.warehouse_password_version

  lifecycle {
    replace_triggered_by = [terraform_data.warehouse_instance]
  }
}

# ---------------------------------------------------------------------------------------------
# Variables (plain values; not sensitive, but kept beside the connection for one source)
# ---------------------------------------------------------------------------------------------
resource "aws_secretsmanager_secret" "variable" {
  #checkov:skip=CKV2_AWS_57:These hold non-secret settings (a topic ARN, an S3 URI); there is nothing to rotate.
  for_each = var.variables

  name                    = "${local.variables_prefix}/${each.key}"
  description             = "Airflow variable ${each.key}"
  kms_key_id              = var.kms_key_arn
  recovery_window_in_days = var.recovery_window_in_days
  tags                    = var.tags
}

resource "aws_secretsmanager_secret_version" "variable" {
  for_each = var.variables

  secret_id     = aws_secretsmanager_secret.variable[each.key].id
  secret_string = each.value
}

# The role GitHub Actions assumes through OIDC (no long-lived keys) to upload the bundle and
# point the MWAA environment at the new plugins.zip/requirements.txt versions. Nothing else.

locals {
  github_oidc_url = "https://token.actions.githubusercontent.com"
  provider_arn    = var.create_oidc_provider ? aws_iam_openid_connect_provider.github[0].arn : var.existing_oidc_provider_arn
  subjects        = length(var.subjects) > 0 ? var.subjects : ["repo:${var.github_repository}:ref:refs/heads/main"]
}

# One per account: set create_oidc_provider = false if another stack already created it.
resource "aws_iam_openid_connect_provider" "github" {
  count = var.create_oidc_provider ? 1 : 0

  url            = local.github_oidc_url
  client_id_list = ["sts.amazonaws.com"]
  tags           = var.tags
}

data "aws_iam_policy_document" "assume" {
  statement {
    actions = ["sts:AssumeRoleWithWebIdentity"]

    principals {
      type        = "Federated"
      identifiers = [local.provider_arn]
    }

    condition {
      test     = "StringEquals"
      variable = "token.actions.githubusercontent.com:aud"
      values   = ["sts.amazonaws.com"]
    }

    # Only workflows of this repository on the main branch (or the subjects given).
    condition {
      test     = "StringLike"
      variable = "token.actions.githubusercontent.com:sub"
      values   = local.subjects
    }
  }
}

data "aws_iam_policy_document" "deploy" {
  statement {
    sid       = "ListDagsPrefix"
    actions   = ["s3:ListBucket"]
    resources = [var.bucket_arn]

    # Enough to find stale DAG files; key names elsewhere (raw/, reports/) stay unlisted.
    condition {
      test     = "StringLike"
      variable = "s3:prefix"
      values   = ["dags/*"]
    }
  }

  # The deploy may write the code objects only: not raw/, reports/ or startup.sh.
  statement {
    sid = "WriteBundleObjects"
    actions = [
      "s3:GetObject",
      "s3:GetObjectVersion",
      "s3:PutObject",
    ]
    resources = [
      "${var.bucket_arn}/dags/*",
      "${var.bucket_arn}/plugins.zip",
      "${var.bucket_arn}/requirements.txt",
    ]
  }

  # Stale DAG files are removed so that dags/ holds exactly the bundle.
  statement {
    sid       = "DeleteStaleDags"
    actions   = ["s3:DeleteObject"]
    resources = ["${var.bucket_arn}/dags/*"]
  }

  statement {
    sid = "BucketKeyViaS3"
    actions = [
      "kms:Decrypt",
      "kms:GenerateDataKey*",
    ]
    resources = [var.kms_key_arn]

    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = ["s3.${var.region}.amazonaws.com"]
    }
  }

  statement {
    sid       = "UpdateEnvironmentVersions"
    actions   = ["airflow:GetEnvironment", "airflow:UpdateEnvironment"]
    resources = [var.environment_arn]
  }

  # UpdateEnvironment re-validates the environment's execution role.
  statement {
    sid       = "PassExecutionRole"
    actions   = ["iam:PassRole"]
    resources = [var.execution_role_arn]

    condition {
      test     = "StringEquals"
      variable = "iam:PassedToService"
      values   = ["airflow.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "this" {
  name                 = var.role_name
  description          = "GitHub Actions deploy of the MWAA bundle (${var.github_repository})"
  assume_role_policy   = data.aws_iam_policy_document.assume.json
  max_session_duration = 3600
  permissions_boundary = var.permissions_boundary_arn
  tags                 = var.tags
}

resource "aws_iam_role_policy" "this" {
  name   = "deploy-bundle"
  role   = aws_iam_role.this.id
  policy = data.aws_iam_policy_document.deploy.json
}

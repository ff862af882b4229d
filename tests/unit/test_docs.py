"""scripts/docs.py: the HCL reader and the terraform-docs tables it writes into README.md."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _load():
    spec = importlib.util.spec_from_file_location("docs", ROOT / "scripts" / "docs.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


docs = _load()

MODULE = """
terraform {
  required_version = ">= 1.6"
  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 5.70, < 7.0"
    }
  }
}

# a comment with { an unbalanced brace
variable "name" {
  description = "Name: \\"quoted\\", a | pipe and a <placeholder>."
  type        = string
  validation {
    condition     = can(regex("^[a-z]{1,3}$", var.name)) # } in a comment
    error_message = "name must match ${"{"}nested}."
  }
}

variable "shape" {
  description = <<-EOT
    A heredoc description { with a brace.
  EOT
  type = object({
    a = optional(string, "}")
  })
  default = {}
}

/* a block comment: variable "hidden" {} */
output "id" {
  description = "The id."
  value       = { for k, v in var.shape : k => "${v}}" }
}

data "aws_region" "current" {}

resource "aws_sqs_queue" "this" {
  name = var.name
  tags = {}
}

resource "terraform_data" "checks" {}

module "child" {
  source = "./modules/child"
}
"""


@pytest.fixture
def module_dir(tmp_path: Path) -> Path:
    (tmp_path / "main.tf").write_text(MODULE)
    (tmp_path / "README.md").write_text(
        "# x\n\n<!-- BEGIN_TF_DOCS -->\nstale\n<!-- END_TF_DOCS -->\n\nafter\n"
    )
    return tmp_path


def test_reader_keeps_strings_heredocs_and_comments_apart_from_structure():
    blocks = docs.parse(MODULE)
    variables = {b.labels[0]: b for b in blocks if b.type == "variable"}
    assert set(variables) == {"name", "shape"}  # not the commented-out "hidden"
    assert docs.string_value(variables["name"].attributes["description"]) == (
        'Name: "quoted", a | pipe and a <placeholder>.'
    )
    assert [b.type for b in variables["name"].blocks] == ["validation"]
    assert docs.string_value(variables["shape"].attributes["description"]) == (
        "A heredoc description { with a brace."
    )
    assert variables["shape"].attributes["type"].startswith("object({")
    assert variables["shape"].attributes["default"] == "{}"
    output = next(b for b in blocks if b.type == "output")
    assert output.attributes["value"] == '{ for k, v in var.shape : k => "${v}}" }'


def test_tables_in_the_terraform_docs_layout(module_dir: Path):
    tables = docs.render(module_dir)
    headings = [line for line in tables.splitlines() if line.startswith("## ")]
    assert headings == [
        "## Requirements",
        "## Providers",
        "## Modules",
        "## Resources",
        "## Inputs",
        "## Outputs",
    ]
    assert '| <a name="requirement_aws"></a> [aws](#requirement\\_aws) | >= 5.70, < 7.0 |' in tables
    assert (
        '| <a name="requirement_terraform"></a> [terraform](#requirement\\_terraform) | >= 1.6 |'
        in tables
    )
    assert (
        '| <a name="provider_terraform"></a> [terraform](#provider\\_terraform) | n/a |' in tables
    )
    assert "| ./modules/child | n/a |" in tables
    resources = [line for line in tables.splitlines() if line.startswith("| [")]
    assert [r.split("]")[0] for r in resources] == [
        "| [aws_sqs_queue.this",
        "| [terraform_data.checks",
        "| [data.aws_region.current",
    ]
    assert "hashicorp/aws/latest/docs/data-sources/region) | data source |" in tables
    assert "hashicorp/terraform/latest/docs/resources/data) | resource |" in tables
    name_row = next(line for line in tables.splitlines() if "input_name" in line)
    assert "a \\| pipe and a &lt;placeholder&gt;." in name_row
    assert name_row.endswith("| `string` | n/a | yes |")
    shape_row = next(line for line in tables.splitlines() if "input_shape" in line)
    assert "<pre>object({<br/>" in shape_row and shape_row.endswith("| `{}` | no |")
    assert '| <a name="output_id"></a> [id](#output\\_id) | The id. |' in tables


def test_write_then_check(module_dir: Path, capsys):
    assert docs.main(["--check", str(module_dir)]) == 1
    assert "make docs" in capsys.readouterr().err
    assert docs.main([str(module_dir)]) == 0
    readme = (module_dir / "README.md").read_text()
    assert "stale" not in readme and readme.endswith("<!-- END_TF_DOCS -->\n\nafter\n")
    assert docs.main(["--check", str(module_dir)]) == 0


def test_a_new_variable_makes_the_readme_stale(module_dir: Path):
    assert docs.main([str(module_dir)]) == 0
    with (module_dir / "main.tf").open("a") as tf:
        tf.write('\nvariable "added" {\n  type    = bool\n  default = false\n}\n')
    assert docs.main(["--check", str(module_dir)]) == 1


def test_markers_are_required(module_dir: Path):
    (module_dir / "README.md").write_text("# no markers\n")
    assert docs.main(["--check", str(module_dir)]) == 1


def test_the_repository_readme_is_up_to_date():
    assert docs.main(["--check", str(ROOT)]) == 0


# Resource types that take no tags (policies, targets, the built-in terraform_data).
UNTAGGABLE = {
    "aws_iam_role_policy",
    "aws_sns_topic_policy",
    "aws_sqs_queue_policy",
    "aws_cloudwatch_event_target",
    "aws_sns_topic_subscription",
    "terraform_data",
    "aws_cloudwatch_dashboard",  # CloudWatch dashboards take no tags (the provider has no argument)
}


@pytest.mark.parametrize(
    "directory",
    [ROOT, *sorted(p.parent for p in ROOT.glob("modules/*/main.tf"))],
    ids=lambda p: str(p.relative_to(ROOT)) or "root",
)
def test_every_taggable_resource_is_tagged(directory: Path):
    untagged = [
        f"{b.labels[0]}.{b.labels[1]}"
        for b in docs.load(directory)
        if b.type == "resource" and b.labels[0] not in UNTAGGABLE and "tags" not in b.attributes
    ]
    assert not untagged, f"resources without tags in {directory.relative_to(ROOT)}: {untagged}"


def test_the_fault_matrix_is_rendered_between_its_markers(tmp_path: Path):
    (tmp_path / "docs").mkdir()
    assert docs.render_faults(tmp_path) is None  # no results yet: the section is left alone
    (tmp_path / "docs" / "faults-results.json").write_text(
        json.dumps(
            {
                "date": "2026-12-03",
                "commit": "abc1234",
                "pairs": 2,
                "runs": 2,
                "lost": 0,
                "silent": 0,
                "failed": 1,
                "rows": [
                    {
                        "fault": "role/x-cb-sfn lambda:Invoke",
                        "mode": "transient",
                        "injected": 1,
                        "end": "closed",
                        "reason": "healthy",
                        "seconds_to_close": 17.4,
                        "lost": 0,
                        "duplicates": 0,
                        "problem": "",
                    },
                    {
                        "fault": "a | pipe",
                        "mode": "persistent",
                        "injected": 9,
                        "end": "SILENT: mapping Disabled",
                        "reason": "",
                        "seconds_to_close": None,
                        "lost": 2,
                        "duplicates": 1,
                        "problem": "lost 2",
                    },
                ],
            }
        )
    )
    table = docs.render_faults(tmp_path)
    assert "on 2026-12-03 at commit `abc1234`: 2 (caller, operation) pairs" in table
    assert (
        "| role/x-cb-sfn lambda:Invoke | transient | 1 | closed | healthy | 17 | 0 | 0 |" in table
    )
    assert "a \\| pipe" in table and "SILENT: mapping Disabled (lost 2)" in table
    readme = "head\n<!-- BEGIN_FAULTS -->\nold\n<!-- END_FAULTS -->\ntail\n"
    updated = docs.update_section(readme, docs.FAULTS_BEGIN, docs.FAULTS_END, table)
    assert updated.startswith("head\n<!-- BEGIN_FAULTS -->\nMeasured by") and "old" not in updated
    assert updated.endswith("<!-- END_FAULTS -->\ntail\n")


def test_a_table_with_data_needs_its_markers(tmp_path: Path):
    with pytest.raises(ValueError, match="BEGIN_FAULTS"):
        docs.update_section("moved away\n", docs.FAULTS_BEGIN, docs.FAULTS_END, "table\n")
    assert docs.update_section("no data\n", docs.FAULTS_BEGIN, docs.FAULTS_END, None) == "no data\n"

"""report indexes: covering indexes for the bills list and the bill summary (bench/reports.py)

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23 03:40:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Parents only (a few % of bags): code -> type and count without touching the bags table.
    op.create_index('ix_bags_parent_figures', 'bags', ['code', 'kind', 'bag_type', 'child_count'],
                    unique=False, sqlite_where=sa.text("kind = 'parent'"))
    op.create_index('ix_bill_lines_bill_parent', 'bill_lines', ['bill_id', 'parent_code'],
                    unique=False)
    op.create_index('ix_bills_created_summary', 'bills',
                    ['created_at', 'bill_id', 'created_by', 'status', 'target'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_bills_created_summary', table_name='bills')
    op.drop_index('ix_bill_lines_bill_parent', table_name='bill_lines')
    op.drop_index('ix_bags_parent_figures', table_name='bags')

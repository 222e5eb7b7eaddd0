"""Jobs are enqueued only after the transaction commits, and a real RQ worker runs them."""

from __future__ import annotations

from rq import Queue, SimpleWorker
from rq.job import JobStatus

from connect.accounts.models import Role
from connect.core.jobs import enqueue_after_commit, queue, redis_connection
from connect.extensions import db
from tests import factories


def test_job_enqueued_after_commit_runs_on_a_worker(app) -> None:
    with app.app_context():
        user = factories.user(Role.ADMIN)
        enqueue_after_commit(db.session, "workers.jobs.user_exists", user.id)
        assert queue().count == 0  # not before the commit
        db.session.commit()
        q = queue()
        assert q.count == 1
        job = q.jobs[0]
        SimpleWorker([q], connection=redis_connection()).work(burst=True)
        job.refresh()
        assert job.get_status() == JobStatus.FINISHED
        assert job.return_value() is True


def test_rolled_back_transaction_enqueues_nothing(app) -> None:
    with app.app_context():
        user = factories.user(Role.ADMIN)
        enqueue_after_commit(db.session, "workers.jobs.user_exists", user.id)
        db.session.rollback()
        factories.user(Role.ADMIN)
        db.session.commit()  # a later commit must not carry the dropped job
        assert Queue("default", connection=redis_connection()).count == 0


def test_savepoints_neither_send_nor_drop_the_outer_transactions_jobs(app) -> None:
    with app.app_context():
        user = factories.user(Role.ADMIN)
        enqueue_after_commit(db.session, "workers.jobs.user_exists", user.id)
        with db.session.begin_nested():  # released: not the real commit yet
            enqueue_after_commit(db.session, "workers.jobs.user_exists", user.id)
        assert queue().count == 0
        try:
            with db.session.begin_nested():
                raise ValueError("a failed savepoint")
        except ValueError:
            pass
        db.session.commit()
        # the outer job survived the failed savepoint, and the duplicate request ran once
        assert queue().count == 1

"""The ingest exit-code contract: 0 all there, 1 some failed, 2 nothing usable at all."""

from equicr.ingest.report import IngestReport


def test_an_ingest_that_left_nothing_usable_is_not_a_success():
    assert IngestReport(written=3).exit_code() == 0
    assert IngestReport(already_complete=3).exit_code() == 0
    assert IngestReport(written=2, failures=["item a: broken"]).exit_code() == 1
    assert IngestReport(failures=["item a: broken"]).exit_code() == 2
    assert IngestReport(notes=["item a: no Sentinel-1 within 3 days; not ingested"]).exit_code() == 2

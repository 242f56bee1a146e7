//! Sealing, shipping, pruning and importing, on a real store file.

use super::*;

fn row(at: i64, model: Option<&str>) -> PredictionRow {
    PredictionRow {
        at,
        inputs: "{}".into(),
        probability: 0.5,
        source: "test".into(),
        replica: Some("r1".into()),
        model_name: model.map(str::to_string),
        prediction_id: Some(crate::util::new_run_id()),
        ..Default::default()
    }
}

fn key(p: &SealParts) -> String {
    format!("{}/{}/{}/{}", p.kind.as_str(), p.model, p.period_ms, p.seq)
}

#[test]
fn sealing_finds_rows_by_range_and_hour_and_shipped_rows_alone_are_pruned() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(&dir.path().join("s.db")).unwrap();
    let hour = PERIOD_HOUR;
    // Two hours interleaved near their boundary, and a row with no model name.
    let rows = [
        row(hour - 2, Some("m")),
        row(hour + 1, Some("m")),
        row(hour - 1, Some("m")),
        row(hour + 2, None),
    ];
    store.log_predictions(&rows).unwrap();
    let segs = store.seal_predictions(1000, "m", &key).unwrap();
    assert_eq!(segs.iter().map(|s| s.rows).collect::<Vec<_>>(), [2, 2]);
    let ats = |id| {
        store
            .segment_predictions(id, "m")
            .unwrap()
            .iter()
            .map(|r| r.at)
            .collect::<Vec<_>>()
    };
    assert_eq!(ats(segs[0].id), [hour - 2, hour - 1]);
    assert_eq!(ats(segs[1].id), [hour + 1, hour + 2]);
    // Nothing waits until a row is logged after the seal.
    assert_eq!(store.capture_pending(None).unwrap().rows, 4);
    assert!(store.seal_predictions(1000, "m", &key).unwrap().is_empty());
    let gap = store.capture_pending(None).unwrap().gap;
    assert_eq!(gap, 0);
    store.log_predictions(&[row(hour + 3, Some("m"))]).unwrap();
    assert_eq!(store.capture_pending(None).unwrap().rows, 5);
    // The estimate from ids agrees with the count while only the log appends.
    assert_eq!(store.capture_pending(Some(gap)).unwrap().rows, 5);
    // Only rows in shipped segments go, and the newest row always stays.
    assert_eq!(store.prune_predictions(i64::MAX, true).unwrap(), 0);
    // A row goes once every segment from its id down is shipped: the first hour's later
    // row waits for the second hour's segment, which began before it.
    store.segment_shipped(segs[0].id, 1).unwrap();
    assert_eq!(store.prune_predictions(i64::MAX, true).unwrap(), 1);
    store.segment_shipped(segs[1].id, 1).unwrap();
    assert_eq!(store.prune_predictions(i64::MAX, true).unwrap(), 3);
    let s = store.seal_predictions(1000, "m", &key).unwrap();
    assert_eq!(s.len(), 1);
    store.segment_shipped(s[0].id, 1).unwrap();
    assert_eq!(store.prune_predictions(i64::MAX, true).unwrap(), 0);
    assert_eq!(store.count_predictions().unwrap(), 1);
    assert_eq!(store.capture_pending(None).unwrap().rows, 0);
    assert_eq!(store.capture_pending(Some(0)).unwrap().rows, 0);
}

fn logged(ids: std::ops::RangeInclusive<i64>, at: i64) -> Vec<Logged<'static>> {
    ids.map(|id| Logged {
        id,
        at,
        replica: "r1",
        model: "m",
    })
    .collect()
}

#[test]
fn rows_held_in_memory_seal_alike_only_when_they_are_the_next_waiting_ones() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(&dir.path().join("s.db")).unwrap();
    let hour = PERIOD_HOUR;
    let row = |at| PredictionRow {
        at,
        inputs: "{}".into(),
        source: "test".into(),
        replica: Some("r1".into()),
        model_name: Some("m".into()),
        ..Default::default()
    };
    // Ids 1..=4 in hour 0, 5..=6 in hour 1.
    let ats = [1, 2, 3, 4, hour + 1, hour + 2];
    let ids = store
        .log_predictions_ids(&ats.map(row))
        .unwrap()
        .into_iter()
        .map(|(_, id)| id)
        .collect::<Vec<_>>();
    assert_eq!(ids, [1, 2, 3, 4, 5, 6]);
    let mut list = logged(1..=4, 1);
    list.extend(logged(5..=6, hour + 1));
    // Not the next waiting rows: the first is missing, or a row between is.
    assert_eq!(
        store
            .seal_predictions_listed(&list[1..], 100, &key)
            .unwrap(),
        None
    );
    let gap: Vec<_> = list.iter().filter(|l| l.id != 3).copied().collect();
    assert_eq!(
        store.seal_predictions_listed(&gap, 100, &key).unwrap(),
        None
    );
    // The next rows, two at a time: sealed by hour as the log would be, then the rest.
    let segs = store
        .seal_predictions_listed(&list, 2, &key)
        .unwrap()
        .unwrap();
    assert_eq!(segs.len(), 1);
    assert_eq!(
        segs[0].span.as_ref().map(|s| (s.first_id, s.last_id)),
        Some((1, 2))
    );
    // Rows already sealed are skipped at the front.
    let segs = store
        .seal_predictions_listed(&list, 100, &key)
        .unwrap()
        .unwrap();
    let spans: Vec<_> = segs
        .iter()
        .map(|s| {
            let sp = s.span.as_ref().unwrap();
            (sp.first_id, sp.last_id, sp.period_ms, s.rows)
        })
        .collect();
    assert_eq!(spans, [(3, 4, 0, 2), (5, 6, hour, 2)]);
    // Each segment finds its rows in the log as if the log had been read to seal them.
    assert_eq!(store.segment_predictions(segs[1].id, "m").unwrap().len(), 2);
    // Nothing waits now: the list is all sealed, and the log agrees.
    assert_eq!(
        store.seal_predictions_listed(&list, 100, &key).unwrap(),
        None
    );
    assert!(store.seal_predictions(100, "m", &key).unwrap().is_empty());
    assert_eq!(store.capture_pending(None).unwrap().rows, 6);
}

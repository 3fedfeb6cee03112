use std::time::Duration;

use super::*;

fn config(
    max: Option<f64>,
    min: Option<f64>,
    failure_limit: u32,
    no_data: NoData,
) -> PrometheusConfig {
    PrometheusConfig {
        url: "http://127.0.0.1:9".into(),
        query: "up".into(),
        max,
        min,
        interval: Duration::from_secs(5),
        failure_limit,
        no_data,
        timeout: Duration::from_secs(1),
    }
}

#[test]
fn vector_scalar_and_empty_answers_parse() {
    let cases: [(&str, Vec<f64>); 4] = [
        (
            r#"{"status":"success","data":{"resultType":"vector","result":[
                {"metric":{"instance":"a"},"value":[1712345678.1,"0.2"]},
                {"metric":{"instance":"b"},"value":[1712345678.1,"0.01"]}]}}"#,
            vec![0.2, 0.01],
        ),
        (
            r#"{"status":"success","data":{"resultType":"scalar","result":[1712345678.1,"3"]}}"#,
            vec![3.0],
        ),
        (
            r#"{"status":"success","data":{"resultType":"vector","result":[]}}"#,
            vec![],
        ),
        (
            r#"{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1,"+Inf"]}]}}"#,
            vec![f64::INFINITY],
        ),
    ];
    for (body, expected) in cases {
        assert_eq!(parse_values(body).unwrap(), expected, "{body}");
    }
    let nan = r#"{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1,"NaN"]}]}}"#;
    assert!(parse_values(nan).unwrap()[0].is_nan());
}

#[test]
fn error_answers_say_why() {
    let cases = [
        (
            r#"{"status":"error","errorType":"bad_data","error":"parse error at char 5"}"#,
            "query failed: parse error at char 5",
        ),
        (
            r#"{"status":"success","data":{"resultType":"matrix","result":[]}}"#,
            "result type matrix; write an instant query",
        ),
        ("<html>", "not JSON"),
        (
            r#"{"status":"success","data":{"resultType":"scalar","result":[1,"x"]}}"#,
            "sample value \"x\" is not a number",
        ),
    ];
    for (body, expected) in cases {
        let err = parse_values(body).unwrap_err();
        assert!(err.starts_with(expected), "{body}: {err}");
    }
}

#[test]
fn values_are_compared_with_max_and_min() {
    let cases = [
        (Some(0.05), None, vec![0.01], "pass: value 0.01 <= max 0.05"),
        (
            Some(0.05),
            None,
            vec![0.01, 0.2],
            "fail: value 0.2 > max 0.05, failing evaluation 1 of 1 allowed",
        ),
        (None, Some(1.0), vec![1.0, 3.0], "pass: value 1 >= min 1"),
        (
            None,
            Some(1.0),
            vec![0.0],
            "fail: value 0 < min 1, failing evaluation 1 of 1 allowed",
        ),
        (
            Some(10.0),
            Some(1.0),
            vec![11.0],
            "fail: value 11 > max 10, failing evaluation 1 of 1 allowed",
        ),
        (
            Some(0.05),
            None,
            vec![f64::NAN],
            "fail: no data, failing evaluation 1 of 1 allowed",
        ),
    ];
    for (max, min, values, expected) in cases {
        let mut gate = PrometheusGate::new(config(max, min, 1, NoData::Fail));
        assert_eq!(gate.judge(&values).to_string(), expected, "{values:?}");
    }
}

#[test]
fn the_gate_fails_at_the_failure_limit_counting_over_the_window() {
    let mut gate = PrometheusGate::new(config(Some(0.05), None, 2, NoData::Fail));
    let labels: Vec<_> = [vec![0.2], vec![0.01], vec![0.3]]
        .iter()
        .map(|v| gate.judge(v).label())
        .collect();
    assert_eq!(labels, ["not yet", "pass", "fail"]);
}

#[test]
fn no_data_counts_as_configured() {
    let cases = [
        (
            NoData::Fail,
            "fail: no data, failing evaluation 1 of 1 allowed",
        ),
        (NoData::Pass, "pass: no data (counts as passing)"),
        (NoData::NotYet, "not yet: no data yet"),
    ];
    for (no_data, expected) in cases {
        let mut gate = PrometheusGate::new(config(Some(1.0), None, 1, no_data));
        assert_eq!(gate.judge(&[]).to_string(), expected);
    }
}

#[tokio::test(start_paused = true)]
async fn an_unreachable_server_is_not_yet_and_queried_once_per_interval() {
    let mut gate = PrometheusGate::new(config(Some(1.0), None, 1, NoData::Fail));
    let target = Probe {
        project: "p".into(),
        service: "s".into(),
        number: 1,
        container_name: "p-s-1".into(),
        ip: None,
        port: None,
    };
    let first = gate.evaluate(&target).await;
    assert!(
        first
            .to_string()
            .starts_with("not yet: GET http://127.0.0.1:9/api/v1/query?query=***: "),
        "{first}"
    );
    let at = gate.last.as_ref().map(|(at, _)| *at);
    tokio::time::advance(Duration::from_secs(2)).await;
    assert_eq!(gate.evaluate(&target).await, first);
    assert_eq!(
        gate.last.as_ref().map(|(at, _)| *at),
        at,
        "queried again within the interval"
    );
}

//! `ps` output: Docker's columns, humanised times and truncation.

use duckc_image::time::human_duration;
use duckc_runtime::container::{Config, State, Status};

/// `Up 5 minutes`, `Exited (130) About a minute ago`, `Created`.
pub fn status(state: &State, now: i64) -> String {
    match state.status {
        Status::Created => "Created".to_owned(),
        Status::Running => format!(
            "Up {}",
            human_duration(now - state.started_at.unwrap_or(now))
        ),
        Status::Exited => format!(
            "Exited ({}) {} ago",
            state.exit_code.unwrap_or(0),
            human_duration(now - state.finished_at.unwrap_or(now))
        ),
    }
}

/// The COMMAND column: the command line cut to 20 characters with `…`, quoted the way Go's
/// `strconv.Quote` does it in `docker ps`.
pub fn command(config: &Config) -> String {
    let cmd = config.spec.process.args.join(" ");
    let cut = if cmd.chars().count() > 20 {
        format!("{}…", cmd.chars().take(19).collect::<String>())
    } else {
        cmd
    };
    format!("{cut:?}")
}

/// Lay `rows` out like Docker's tabwriter: columns padded to their widest cell plus three
/// spaces, the last column not padded.
pub fn render(rows: &[Vec<String>]) -> String {
    let cols = rows.first().map_or(0, Vec::len);
    let widths: Vec<usize> = (0..cols)
        .map(|c| rows.iter().map(|r| r[c].chars().count()).max().unwrap_or(0))
        .collect();
    let mut out = String::new();
    for row in rows {
        let mut line = String::new();
        for (c, cell) in row.iter().enumerate() {
            line.push_str(cell);
            if c + 1 < cols {
                line.push_str(&" ".repeat(widths[c] - cell.chars().count() + 3));
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state(status: Status, code: Option<i32>, at: i64) -> State {
        State {
            status,
            pid: None,
            pid_start: None,
            exit_code: code,
            started_at: Some(at),
            finished_at: Some(at),
        }
    }

    #[test]
    fn statuses() {
        let now = 1_000_000;
        insta::assert_snapshot!(
            [
                status(&state(Status::Created, None, now), now),
                status(&state(Status::Running, None, now - 300), now),
                status(&state(Status::Running, None, now), now),
                status(&state(Status::Exited, Some(130), now - 70), now),
                status(&state(Status::Exited, Some(0), now - 7200), now),
                status(&state(Status::Exited, Some(137), now - 3 * 86400), now),
            ]
            .join("\n"),
            @r"
        Created
        Up 5 minutes
        Up Less than a second
        Exited (130) About a minute ago
        Exited (0) 2 hours ago
        Exited (137) 3 days ago
        "
        );
    }

    #[test]
    fn table() {
        let rows = vec![
            vec!["CONTAINER ID".into(), "IMAGE".into(), "NAMES".into()],
            vec![
                "0123456789ab".into(),
                "busybox".into(),
                "merry_manatee".into(),
            ],
        ];
        insta::assert_snapshot!(render(&rows), @r"
        CONTAINER ID   IMAGE     NAMES
        0123456789ab   busybox   merry_manatee
        ");
    }
}

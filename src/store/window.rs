//! The SQL of [`Window`] and count queries, shared by both backends: only the placeholder
//! style differs (`?N` for SQLite, `$N` for PostgreSQL).

use super::{Window, nanos};
use crate::model::Selection;

/// A value bound to a placeholder.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Arg {
    Int(i64),
    Text(String),
}

#[derive(Debug, Clone, Copy)]
pub(crate) enum Dialect {
    Sqlite,
    Postgres,
}

/// A statement and its arguments, in placeholder order.
pub(crate) struct Query {
    pub sql: String,
    pub args: Vec<Arg>,
    dialect: Dialect,
}

impl Query {
    fn new(dialect: Dialect) -> Self {
        Self {
            sql: String::new(),
            args: Vec::new(),
            dialect,
        }
    }

    /// Binds `arg` and returns its placeholder.
    fn bind(&mut self, arg: Arg) -> String {
        self.args.push(arg);
        match self.dialect {
            Dialect::Sqlite => format!("?{}", self.args.len()),
            Dialect::Postgres => format!("${}", self.args.len()),
        }
    }

    /// Binds a LIMIT or OFFSET count. SQLite (3.50, bundled) plans with the value bound to a
    /// LIMIT, so every new binding made it prepare the statement again, on every read; as
    /// `+?N` the count is an expression the planner does not look into.
    fn count(&mut self, n: i64) -> String {
        let placeholder = self.bind(Arg::Int(n));
        match self.dialect {
            Dialect::Sqlite => format!("+{placeholder}"),
            Dialect::Postgres => placeholder,
        }
    }

    /// `column IN (...)` over the selection's categories.
    fn in_categories(&mut self, column: &str, selection: &Selection) -> String {
        let Selection::Categories(categories) = selection else {
            return "TRUE".to_owned();
        };
        if categories.is_empty() {
            return "FALSE".to_owned();
        }
        let list: Vec<String> = categories
            .iter()
            .map(|c| self.bind(Arg::Text(c.as_str().to_owned())))
            .collect();
        format!("{column} IN ({})", list.join(", "))
    }

    fn bounds(&mut self, window: &Window, published: &str, id: &str) -> String {
        let mut clauses = Vec::new();
        if let Some(from) = window.from {
            clauses.push(format!(
                "{published} >= {}",
                self.bind(Arg::Int(nanos(from)))
            ));
        }
        if let Some(until) = window.until {
            clauses.push(format!(
                "{published} < {}",
                self.bind(Arg::Int(nanos(until)))
            ));
        }
        if let Some((at, before)) = &window.before {
            let at = self.bind(Arg::Int(nanos(*at)));
            let before = self.bind(Arg::Text(before.as_str().to_owned()));
            clauses.push(format!("({published}, {id}) < ({at}, {before})"));
        }
        if clauses.is_empty() {
            "TRUE".to_owned()
        } else {
            clauses.join(" AND ")
        }
    }
}

/// Selects the bodies of a window's stories, in its order.
pub(crate) fn select(dialect: Dialect, selection: &Selection, window: &Window) -> Query {
    let mut q = Query::new(dialect);
    let order = if window.oldest_first { "ASC" } else { "DESC" };
    let (limit, offset) = (window.limit as i64, window.offset as i64);
    q.sql = match selection {
        Selection::All => {
            let bounds = q.bounds(window, "published_ns", "id");
            let limit = q.count(limit);
            let offset = q.count(offset);
            format!(
                "SELECT body FROM articles WHERE killed_seq IS NULL AND {bounds}
                 ORDER BY published_ns {order}, id {order} LIMIT {limit} OFFSET {offset}"
            )
        }
        // The level is a small number written into the SQL, so both backends compare it with
        // their own integer column type.
        Selection::Urgent(level) => {
            let bounds = q.bounds(window, "published_ns", "id");
            let limit = q.count(limit);
            let offset = q.count(offset);
            format!(
                "SELECT body FROM articles
                 WHERE killed_seq IS NULL AND urgency IS NOT NULL AND urgency <= {level} AND {bounds}
                 ORDER BY published_ns {order}, id {order} LIMIT {limit} OFFSET {offset}"
            )
        }
        Selection::Categories(_) => {
            let filed = q.in_categories("category", selection);
            let bounds = q.bounds(window, "published_ns", "article_id");
            let limit = q.count(limit);
            let offset = q.count(offset);
            format!(
                "SELECT a.body FROM (
                     SELECT DISTINCT published_ns, article_id FROM article_categories
                     WHERE {filed} AND {bounds}
                     ORDER BY published_ns {order}, article_id {order} LIMIT {limit} OFFSET {offset}
                 ) c JOIN articles a ON a.id = c.article_id
                 ORDER BY c.published_ns {order}, c.article_id {order}"
            )
        }
    };
    q
}

/// Counts the selection's live stories, each once.
pub(crate) fn count(dialect: Dialect, selection: &Selection) -> Query {
    let mut q = Query::new(dialect);
    q.sql = match selection {
        Selection::All => "SELECT count(*) FROM articles WHERE killed_seq IS NULL".to_owned(),
        Selection::Urgent(level) => format!(
            "SELECT count(*) FROM articles
                 WHERE killed_seq IS NULL AND urgency IS NOT NULL AND urgency <= {level}"
        ),
        Selection::Categories(_) => {
            let filed = q.in_categories("category", selection);
            format!("SELECT count(DISTINCT article_id) FROM article_categories WHERE {filed}")
        }
    };
    q
}

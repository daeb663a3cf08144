//! Placeholders in reply lines and narrated actions: `{player}`,
//! `{character}`, `{text}`, `{previous}` and `{param.NAME}`.
//!
//! A line is filled in one pass from left to right: what a placeholder is
//! replaced by is never read again, so a player's text or trigger parameter
//! that itself looks like a placeholder comes out as written.

/// What the placeholders stand for.
pub(crate) struct Values<'a> {
    /// The player's name (empty: "traveller").
    pub player: &'a str,
    /// The speaking character's display name.
    pub character: &'a str,
    /// What the player said or did.
    pub text: &'a str,
    /// The player's previous line.
    pub previous: &'a str,
    /// Trigger parameters, by name (a missing one is empty).
    pub params: &'a [(String, String)],
}

impl Values<'_> {
    /// The value of the placeholder `{name}`; None when `name` is no placeholder.
    fn of(&self, name: &str) -> Option<&str> {
        Some(match name {
            "player" if self.player.is_empty() => "traveller",
            "player" => self.player,
            "character" => self.character,
            "text" => self.text,
            "previous" => self.previous,
            _ => {
                let param = name.strip_prefix("param.")?;
                self.params
                    .iter()
                    .find(|(n, _)| n == param)
                    .map_or("", |(_, v)| v.as_str())
            }
        })
    }
}

/// `template` with its placeholders filled in. Braces that are no
/// placeholder stay as they are.
pub(crate) fn fill_in(template: &str, values: &Values<'_>) -> String {
    let mut out = String::with_capacity(template.len());
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        let value = after
            .find('}')
            .and_then(|close| Some((values.of(&after[..close])?, close)));
        match value {
            Some((value, close)) => {
                out.push_str(value);
                rest = &after[close + 1..];
            }
            None => {
                out.push('{');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values<'a>(params: &'a [(String, String)], text: &'a str) -> Values<'a> {
        Values {
            player: "Zed",
            character: "Alice",
            text,
            previous: "",
            params,
        }
    }

    #[test]
    fn placeholders_are_filled() {
        let params = vec![("mood".to_string(), "happy".to_string())];
        assert_eq!(
            fill_in(
                "{character} to {player}: {param.mood} {param.x}!",
                &values(&params, "")
            ),
            "Alice to Zed: happy !"
        );
        let anonymous = Values {
            player: "",
            ..values(&[], "")
        };
        assert_eq!(fill_in("Hi {player}", &anonymous), "Hi traveller");
    }

    #[test]
    fn other_braces_stay() {
        let v = values(&[], "x");
        assert_eq!(fill_in("{", &v), "{");
        assert_eq!(fill_in("}{", &v), "}{");
        assert_eq!(fill_in("{nope} {text}", &v), "{nope} x");
        assert_eq!(fill_in("{{text}}", &v), "{x}");
        assert_eq!(fill_in("{a{text}", &v), "{ax");
        assert_eq!(fill_in("é{text}é", &v), "éxé");
    }

    /// A value that looks like a placeholder is not filled in again: before,
    /// `{param.NAME}` was searched for in the output again and again, so a
    /// parameter whose value named itself made the reply loop forever while
    /// holding the session lock.
    #[test]
    fn values_are_never_read_again() {
        let params = vec![
            ("a".to_string(), "{param.a}".to_string()),
            ("b".to_string(), "{player} {text}".to_string()),
        ];
        let v = values(&params, "{param.a}");
        assert_eq!(fill_in("{param.a}", &v), "{param.a}");
        assert_eq!(fill_in("{param.b}!", &v), "{player} {text}!");
        assert_eq!(fill_in("{text}", &v), "{param.a}");
    }
}

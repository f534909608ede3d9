use crate::entities::Page;

/// Builds a page from `limit + 1` fetched rows: the extra row only tells that another page exists.
pub(crate) fn paginate<T>(
    mut items: Vec<T>,
    limit: u32,
    token_of: impl Fn(&T) -> String,
) -> Page<T> {
    let limit = limit as usize;
    let next_page_token = if items.len() > limit {
        items.truncate(limit);
        items.last().map(token_of)
    } else {
        None
    };
    Page {
        items,
        next_page_token,
    }
}

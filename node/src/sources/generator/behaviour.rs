//! The behaviour workload (`workload = "behaviour"`): a recommender's user behaviour events,
//! each a pure function of `(seed, keys, items, seq)`.
//!
//! **Sessions.** The sequence is cut into blocks of [`BLOCK`] sequence numbers; a block is
//! a run of sessions, a session a run of one user's consecutive events, and each event is
//! found by walking its block from the start (the generator keeps its walk, so reading in
//! order costs one step per event). At a block's first position and after each interaction
//! that ends with probability [`SESSION_END`], a session starts: its user is drawn from a
//! Zipf law of exponent [`USER_EXPONENT`] over `[0, keys)` (user 0 the most active). A
//! session is a run of interactions with items:
//!
//! - an interaction starts with a `rating` (probability [`RATING_SHARE`]) or a `view`;
//! - after a view comes a `click` on the same item with probability `0.04 + 0.12 a`
//!   ([`click_probability`]; `a` is the user's affinity for the item, below), after a click
//!   a `cart` with probability [`CART_RATE`], after a cart a `purchase` with probability
//!   [`PURCHASE_RATE`]; otherwise (and after a purchase or a rating) the interaction ends.
//!   A block's end cuts a session, so the funnel rates hold exactly for events whose next
//!   sequence number is in the same block (63 of 64), and the stream's overall rates are a
//!   little lower.
//!
//! **Tastes.** There are [`CATEGORIES`] item categories; item `i` is in category
//! `i mod 16` with popularity rank `i div 16` there. A user has a primary and a secondary
//! category, which drift: time is cut into epochs of [`TASTE_EPOCH_MS`] of event time
//! (shifted by a per-user offset), each epoch draws the user a new primary category, and the
//! secondary is the previous epoch's primary. An interaction's item is in the primary
//! category with probability [`PRIMARY_WEIGHT`], in the secondary with [`SECONDARY_WEIGHT`],
//! else in a category drawn uniformly; within its category the item is drawn from a Zipf law
//! of exponent [`ITEM_EXPONENT`] over the category's items. The affinity `a` is 1 for the
//! primary category, 0.5 for the secondary (when it differs), else 0.
//!
//! **Ratings.** A rating is `round(2.8 + b_u + q_i + 1.2 a + 0.7 ε)` within 1..5, with a user
//! bias `b_u` uniform in ±0.5, an item quality `q_i` uniform in ±0.75 (both fixed per id) and
//! `ε` standard normal: users, items and tastes are latent structure that collaborative
//! filtering can learn.
//!
//! **Columns.** `user`, `item` (i64), `action` (view, click, cart, purchase, rating),
//! `rating` (f64, null but for ratings), `strength` (implicit feedback: view 1, click 2,
//! cart 3, purchase 5, a rating its value), `clicked` (the CTR label: 1 for click, cart and
//! purchase, else 0), `ts` = `seq` (event time, 1 event per ms).
//!
//! **Draws.** Every random number is `u(h) = (h >> 11) · 2⁻⁵³` of a splitmix64 hash:
//! position draws `splitmix64(splitmix64(seq ^ seed·φ ^ BEHAVIOUR) ^ SLOT)` with one constant
//! per use ([`Slot`]), per-id draws `splitmix64(splitmix64(id ^ seed·φ ^ KIND) ^ SLOT)`.
//! A Zipf rank over `n` with exponent `s` is `⌊(1 + u((n+1)^(1−s) − 1))^(1/(1−s))⌋ − 1` (the
//! continuous power law on `[1, n+1)`); a standard normal is Box–Muller's
//! `√(−2 ln(1−u₁)) cos(2π u₂)`.

use super::splitmix64;

/// Sequence numbers per block (a block's walk starts a fresh session).
pub const BLOCK: u64 = 64;
/// Item categories (tastes).
pub const CATEGORIES: u64 = 16;
/// Zipf exponent of user activity.
pub const USER_EXPONENT: f64 = 0.9;
/// Zipf exponent of item popularity within a category.
pub const ITEM_EXPONENT: f64 = 1.1;
/// Event time a user keeps a primary category (ms; 1 event per ms).
pub const TASTE_EPOCH_MS: u64 = 3_600_000;
/// Share of interactions in the user's primary category.
pub const PRIMARY_WEIGHT: f64 = 0.55;
/// Share of interactions in the user's secondary category.
pub const SECONDARY_WEIGHT: f64 = 0.25;
/// Share of interactions that are ratings (the rest start with a view).
pub const RATING_SHARE: f64 = 0.15;
/// Probability that a session ends after an interaction.
pub const SESSION_END: f64 = 0.2;
/// Probability of a cart after a click.
pub const CART_RATE: f64 = 0.25;
/// Probability of a purchase after a cart.
pub const PURCHASE_RATE: f64 = 0.45;

/// The golden-ratio constant that spreads seeds (as W1's).
const GOLDEN: u64 = 0x9E37_79B9_7F4A_7C15;

/// Probability of a click after a view of an item of affinity `a` (0, 0.5 or 1).
pub fn click_probability(affinity: f64) -> f64 {
    0.04 + 0.12 * affinity
}

/// What a user did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    /// Saw the item.
    View,
    /// Clicked it after a view.
    Click,
    /// Put it in the cart after a click.
    Cart,
    /// Bought it after a cart.
    Purchase,
    /// Rated it (1..5).
    Rating,
}

impl Action {
    /// The `action` column's value.
    pub fn name(self) -> &'static str {
        match self {
            Action::View => "view",
            Action::Click => "click",
            Action::Cart => "cart",
            Action::Purchase => "purchase",
            Action::Rating => "rating",
        }
    }
}

/// One behaviour event.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Event {
    /// The user.
    pub user: i64,
    /// The item.
    pub item: i64,
    /// What the user did.
    pub action: Action,
    /// The rating, for [`Action::Rating`].
    pub rating: Option<f64>,
    /// Implicit feedback: view 1, click 2, cart 3, purchase 5, a rating its value.
    pub strength: f64,
    /// The CTR label: 1 for click, cart and purchase, else 0.
    pub clicked: f64,
    /// Event time (ms): the sequence number.
    pub ts: i64,
}

/// The uses of random draws, each hashed with its own constant.
#[derive(Debug, Clone, Copy)]
#[repr(u64)]
enum Slot {
    /// Whether the funnel goes on.
    Funnel = 0x51ED_270B_2C7A_4F19,
    /// Whether the session ends.
    SessionEnd = 0x2545_F491_4F6C_DD1D,
    /// The session's user.
    User = 0x6A09_E667_F3BC_C909,
    /// Rating or view.
    Kind = 0xBB67_AE85_84CA_A73B,
    /// The item's category.
    Category = 0x3C6E_F372_FE94_F82B,
    /// The item's rank in its category.
    Rank = 0xA54F_F53A_5F1D_36F1,
    /// The rating's noise, first uniform.
    Noise1 = 0x510E_527F_ADE6_82D1,
    /// The rating's noise, second uniform.
    Noise2 = 0x9B05_688C_2B3E_6C1F,
    /// A user's taste epoch offset.
    TasteOffset = 0x1F83_D9AB_FB41_BD6B,
    /// A user's bias.
    UserBias = 0x5BE0_CD19_137E_2179,
    /// An item's quality.
    ItemQuality = 0xCBBB_9D5D_C105_9ED8,
}

/// What a hashed key stands for, so a user id and a sequence number never share a key.
#[derive(Debug, Clone, Copy)]
#[repr(u64)]
enum Keyed {
    Position = 0xD6E8_FEB8_6659_FD93,
    User = 0xA076_1D64_78BD_642F,
    Item = 0xE703_7ED1_A0B4_28DB,
    Taste = 0x8EBC_6AF0_9C88_C6E3,
}

/// A uniform in [0, 1) from 53 bits of `h`.
fn uniform(h: u64) -> f64 {
    (h >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
}

/// The workload's settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Behaviour {
    /// `seed`.
    pub seed: u64,
    /// `keys`: users.
    pub keys: u64,
    /// `items`: at least [`CATEGORIES`].
    pub items: u64,
}

impl Behaviour {
    /// The base hash of `id` of kind `keyed`.
    fn key(&self, keyed: Keyed, id: u64) -> u64 {
        splitmix64(id ^ self.seed.wrapping_mul(GOLDEN) ^ keyed as u64)
    }

    /// Draw `slot` from a base hash.
    fn draw(base: u64, slot: Slot) -> f64 {
        uniform(splitmix64(base ^ slot as u64))
    }

    /// The primary and secondary category of `user` at event time `ts`.
    pub fn taste(&self, user: i64, ts: i64) -> (u64, u64) {
        let user = user as u64;
        let offset =
            splitmix64(self.key(Keyed::User, user) ^ Slot::TasteOffset as u64) % TASTE_EPOCH_MS;
        let epoch = (ts as u64).wrapping_add(offset) / TASTE_EPOCH_MS;
        let primary = |epoch: u64| splitmix64(self.key(Keyed::Taste, user) ^ epoch) % CATEGORIES;
        (primary(epoch), primary(epoch.wrapping_sub(1)))
    }

    /// The bias of `user`'s ratings, in ±0.5.
    pub fn user_bias(&self, user: i64) -> f64 {
        Self::draw(self.key(Keyed::User, user as u64), Slot::UserBias) - 0.5
    }

    /// The quality of `item`, in ±0.75.
    pub fn item_quality(&self, item: i64) -> f64 {
        (Self::draw(self.key(Keyed::Item, item as u64), Slot::ItemQuality) - 0.5) * 1.5
    }

    /// The event at sequence number `seq`, walked from its block's start.
    pub fn event(&self, seq: u64) -> Event {
        Walk::new(*self, seq / BLOCK).event_at(seq)
    }
}

/// A Zipf rank in `[0, n)` with exponent `s` (≠ 1) from a uniform `u`.
pub fn zipf_rank(n: u64, s: f64, u: f64) -> u64 {
    let a = 1.0 - s;
    let top = ((n + 1) as f64).powf(a) - 1.0;
    let x = (1.0 + u * top).powf(1.0 / a);
    (x.floor() as u64).saturating_sub(1).min(n - 1)
}

/// The interaction in progress: its item, the user's affinity for it, its last action.
#[derive(Debug, Clone, Copy)]
struct Interaction {
    item: i64,
    affinity: f64,
    last: Action,
}

/// A walk through one block: the events of its positions in order.
#[derive(Debug, Clone)]
pub struct Walk {
    model: Behaviour,
    block: u64,
    /// The next position to walk.
    next: u64,
    /// The current session's user.
    user: i64,
    /// The interaction at the last position walked.
    interaction: Option<Interaction>,
}

impl Walk {
    /// A walk at the start of `block`.
    pub fn new(model: Behaviour, block: u64) -> Walk {
        Walk {
            model,
            block,
            next: 0,
            user: 0,
            interaction: None,
        }
    }

    /// The event at `seq`: walked on from here when `seq` is ahead in this walk's block,
    /// else from the start of its block.
    pub fn event_at(&mut self, seq: u64) -> Event {
        let (block, position) = (seq / BLOCK, seq % BLOCK);
        if block != self.block || position < self.next {
            *self = Walk::new(self.model, block);
        }
        loop {
            let event = self.step();
            if self.next > position {
                return event;
            }
        }
    }

    /// The event at the next position.
    fn step(&mut self) -> Event {
        let m = self.model;
        let seq = self.block * BLOCK + self.next;
        let ts = seq as i64;
        let base = m.key(Keyed::Position, seq);
        let go_on = Behaviour::draw(base, Slot::Funnel);
        let next_action = self.interaction.and_then(|i| {
            let (action, rate) = match i.last {
                Action::View => (Action::Click, click_probability(i.affinity)),
                Action::Click => (Action::Cart, CART_RATE),
                Action::Cart => (Action::Purchase, PURCHASE_RATE),
                Action::Purchase | Action::Rating => return None,
            };
            (go_on < rate).then_some(Interaction { last: action, ..i })
        });
        let interaction = match next_action {
            Some(i) => i,
            None => {
                let new_session = self.interaction.is_none()
                    || Behaviour::draw(base, Slot::SessionEnd) < SESSION_END;
                if new_session {
                    let rank = zipf_rank(m.keys, USER_EXPONENT, Behaviour::draw(base, Slot::User));
                    self.user = rank as i64;
                }
                let (item, affinity) = self.choose_item(base, ts);
                let last = if Behaviour::draw(base, Slot::Kind) < RATING_SHARE {
                    Action::Rating
                } else {
                    Action::View
                };
                Interaction {
                    item,
                    affinity,
                    last,
                }
            }
        };
        self.interaction = Some(interaction);
        self.next += 1;
        let rating = (interaction.last == Action::Rating)
            .then(|| self.rating(base, interaction.item, interaction.affinity));
        let strength = match interaction.last {
            Action::View => 1.0,
            Action::Click => 2.0,
            Action::Cart => 3.0,
            Action::Purchase => 5.0,
            Action::Rating => rating.unwrap_or(0.0),
        };
        let clicked = matches!(
            interaction.last,
            Action::Click | Action::Cart | Action::Purchase
        );
        Event {
            user: self.user,
            item: interaction.item,
            action: interaction.last,
            rating,
            strength,
            clicked: f64::from(u8::from(clicked)),
            ts,
        }
    }

    /// The item of an interaction starting at `ts` (position hash `base`), and the user's
    /// affinity for it.
    fn choose_item(&self, base: u64, ts: i64) -> (i64, f64) {
        let m = self.model;
        let (primary, secondary) = m.taste(self.user, ts);
        let v = Behaviour::draw(base, Slot::Category);
        let category = if v < PRIMARY_WEIGHT {
            primary
        } else if v < PRIMARY_WEIGHT + SECONDARY_WEIGHT {
            secondary
        } else {
            let rest =
                (v - PRIMARY_WEIGHT - SECONDARY_WEIGHT) / (1.0 - PRIMARY_WEIGHT - SECONDARY_WEIGHT);
            ((rest * CATEGORIES as f64) as u64).min(CATEGORIES - 1)
        };
        let in_category = (m.items - category).div_ceil(CATEGORIES);
        let rank = zipf_rank(
            in_category,
            ITEM_EXPONENT,
            Behaviour::draw(base, Slot::Rank),
        );
        let affinity = if category == primary {
            1.0
        } else if category == secondary {
            0.5
        } else {
            0.0
        };
        ((category + CATEGORIES * rank) as i64, affinity)
    }

    /// The rating of `item` by the session's user, at position hash `base`.
    fn rating(&self, base: u64, item: i64, affinity: f64) -> f64 {
        let m = self.model;
        let (u1, u2) = (
            Behaviour::draw(base, Slot::Noise1),
            Behaviour::draw(base, Slot::Noise2),
        );
        let noise = (-2.0 * (1.0 - u1).ln()).sqrt() * (std::f64::consts::TAU * u2).cos();
        let raw =
            2.8 + m.user_bias(self.user) + m.item_quality(item) + 1.2 * affinity + 0.7 * noise;
        raw.round().clamp(1.0, 5.0)
    }
}

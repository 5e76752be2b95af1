//! `sqlx::migrate!` embeds the migrations at compile time: a new or changed migration must rebuild
//! this crate (as sqlx's documentation advises).

fn main() {
    println!("cargo:rerun-if-changed=../migrations");
}

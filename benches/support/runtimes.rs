//! The parties of a bench, each on a tokio runtime of its own, as they would be separate
//! processes (or, for the relay, the network); they still share the cores. Named threads
//! let `perf report --sort comm` split the CPU between them.

pub struct Runtimes {
    pub load: tokio::runtime::Runtime,
    pub keypool: tokio::runtime::Runtime,
    pub fake: tokio::runtime::Runtime,
    pub relay: tokio::runtime::Runtime,
}

impl Runtimes {
    pub fn new() -> Runtimes {
        let named = |name: &str| {
            tokio::runtime::Builder::new_multi_thread()
                .thread_name(name)
                .enable_all()
                .build()
                .expect("tokio runtime")
        };
        Runtimes {
            load: named("load"),
            keypool: named("keypool"),
            fake: named("fake"),
            relay: named("relay"),
        }
    }
}

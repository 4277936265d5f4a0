//! The SIP parser, stream framing and the server core on arbitrary bytes: no panic, and the
//! core stays consistent whatever arrives (as datagrams from two sources, with time moving).
#![no_main]

use callflow_runtime::server::uas::{Config, Uas};
use callflow_runtime::sip::message;
use callflow_runtime::vm::Machine;
use libfuzzer_sys::fuzz_target;
use std::sync::{Arc, OnceLock};

fn machine() -> Arc<Machine> {
    static M: OnceLock<Arc<Machine>> = OnceLock::new();
    M.get_or_init(|| {
        let mut p = callflow_compiler::Project::new();
        p.add_file(
            std::path::Path::new("f.flow"),
            "flow f { numbers \"200\"\n start { play \"a\"\n menu m\n hangup }\n menu m { prompt \"p\"\n \"1\" => play \"b\"\n \"2XX\" => transfer key } }\n".into(),
            true,
        );
        let program = callflow_compiler::lower::lower(&callflow_compiler::check(&p)).unwrap();
        Arc::new(Machine::new(program).unwrap())
    })
    .clone()
}

fuzz_target!(|data: &[u8]| {
    let _ = message::parse(data);
    let _ = message::frame(data);
    let mut uas = Uas::new(machine(), Config::new("127.0.0.1:5060".parse().unwrap()));
    let mut now = 1_767_780_000_000i64;
    // Split the input into datagrams at each 0xFF byte; alternate two sources.
    for (i, d) in data.split(|b| *b == 0xFF).enumerate() {
        let from = if i % 2 == 0 { "127.0.0.1:5070" } else { "127.0.0.1:5071" };
        uas.receive(now, from.parse().unwrap(), d);
        now += 700;
        uas.handle_timeout(now);
        while uas.poll_out().is_some() {}
    }
    uas.handle_timeout(now + 120_000);
});

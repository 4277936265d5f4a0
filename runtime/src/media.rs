//! Media, sans-IO: what a call sends and hears over RTP. `sdp` (offer/answer), `rtp` (packets),
//! `g711` (the two telephone codecs), `wav` (prompt files in, recordings out), `telephone_event`
//! (RFC 4733 keys), `inband` (keys sent as tones in the audio), `say` (numbers as words),
//! `stream` (one call's media: what plays, what is heard, what is recorded) and `relay` (a
//! bridged call's packets from one leg to the other). No sockets and no clock here: the server's
//! media driver (`server::media`) owns those and paces every call's stream from one loop.

pub mod g711;
pub mod inband;
pub mod relay;
pub mod rtp;
pub mod say;
pub mod sdp;
pub mod stream;
pub mod telephone_event;
pub mod wav;

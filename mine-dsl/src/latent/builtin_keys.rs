// The built-in latent keys: the one list of them. `builtin.rs` declares the keys from it, and
// `mine-dsl-macros` includes it too, to resolve a bare key name (`produces(vpred)`) to
// `::mine_dsl::latent::vpred` and to catch near misses (`pi_logit`). Each includer defines
// `builtin_keys!` first.
builtin_keys! {
    /// Log-probabilities of the VPT action head: buttons `[B, T, 1, 8641]`, camera `[B, T, 1, 121]`.
    pi_logits: PiLogits;
    /// Value prediction per frame, `[B, T, 1]`.
    vpred: Tensor<3>;
    /// Posterior over the goal latent (GROOT's video encoder).
    posterior_dist: DiagGaussian;
    /// Prior over the goal latent (GROOT's image encoder).
    prior_dist: DiagGaussian;
}

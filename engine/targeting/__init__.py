"""targeting: pick the samples of a pool that serve a target task (a query set), after Nayak et al., "A Critical
Look at Targeted Instruction Selection" (dcml-lab/targeted-instruction-selection; docs/targeting.md).

A representation gives a query x candidate similarity; an algorithm turns it into an ordering of the
candidates (budget k = its first k), saved as a selection.

- `similarity`: the similarity sources read in column blocks (in memory or a memmap), the shared top-k per
  query (ties to the smaller column), the `Ordering` every algorithm returns.
- `round_robin`, `doubly_greedy`, `uot`, `knn_uniform`, `knn_kde`: one module per algorithm.
- `saving`: an ordering saved as a selection (budget k = its first k; why = the pulling query item).
- `listing`: targeted selections read back (picks with their query item and similarity, per query item).
- `queries`: query sets (a pool or a file; prompt + label per item).
- `representations`: EMBED (sentence-transformers) and RDS+ (the proxy LM's position-weighted last hidden
  states), candidates cached through engine/geometry/embeddings.
- `less`: LESS gradient features: per-example LoRA gradients batched with torch.func, Adam preconditioning,
  a seeded block-wise Rademacher projection.
- `less_warmup`: the LoRA warm-up with engine/training (a checkpoint per epoch), features per checkpoint, the
  similarity weighted by each epoch's mean learning rate; cached in the store's folder.
- `distances`: subset-to-query Chamfer and OT distances per budget, beside a random subset's.
- `target`: one selection end to end (query set, representation, similarity on disk, algorithm, selection).

Sits beside quality and synthesis: imports from core, data, geometry and quality (the LESS warm-up gets
engine/training's trainer passed in); mixtures, training,
evaluation and the app import it.
"""

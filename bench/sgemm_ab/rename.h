/* Included before a copy of engine/sgemm.c (bench/run_sgemm_ab.sh): its public functions get
 * the prefix V(...) (a_ or b_), so two versions link into one A/B program. */
#define eng_pw_floats V(pw_floats)
#define eng_pw_alloc V(pw_alloc)
#define eng_pw_put V(pw_put)
#define eng_sgemm_isa V(isa)
#define eng_sgemm_force_isa V(force_isa)
#define eng_sgemm_scratch_floats V(scratch_floats)
#define eng_sgemm_packed V(packed)

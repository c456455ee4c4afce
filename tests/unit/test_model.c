/*
 * test_model: binding a GGUF to bert / nomic-bert.
 *
 * Every bad model is the valid tiny baseline (support/tiny_model.c) with one
 * knob turned; each case asserts the error code and the exact message.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "ggml_types.h"
#include "gguf_builder.h"
#include "model.h"
#include "tiny_model.h"

/* Load s, expect failure with `code` and exactly `msg`. */
static void expect_fail(const tiny_model_spec *s, emb_code code, const char *msg)
{
    emb_error err;
    emb_error_clear(&err);
    uint8_t *img = NULL;
    emb_model *m = tiny_model_load(s, &img, &err);
    if (m) {
        emb_model_destroy(m);
        free(img);
        fail_msg("model loaded, expected error '%s'", msg);
    }
    if (err.code != code || strcmp(err.msg, msg) != 0)
        fail_msg("got code %s message\n  '%s'\nexpected %s\n  '%s'", emb_code_name(err.code), err.msg,
                 emb_code_name(code), msg);
}

static void test_valid_bert(void **state)
{
    (void)state;
    tiny_model_spec s = tiny_model_default(EMB_ARCH_BERT, GGML_TYPE_F16);
    size_t size;
    uint8_t *img = tiny_model_build(&s, &size);
    assert_non_null(img);
    emb_error err;
    emb_error_clear(&err);
    gguf_file *f = gguf_open_memory(img, size, "tiny.gguf", &err);
    assert_non_null(f);
    emb_model *m = emb_model_from_gguf(f, &err);
    if (!m)
        fail_msg("%s", err.msg);
    assert_int_equal(m->hp.arch, EMB_ARCH_BERT);
    assert_int_equal(m->hp.n_embd, 64);
    assert_int_equal(m->hp.n_ff, 128);
    assert_int_equal(m->hp.n_head, 4);
    assert_int_equal(m->hp.n_layer, 2);
    assert_int_equal(m->hp.n_ctx_train, 32);
    assert_int_equal(m->hp.n_vocab, tiny_model_vocab_size());
    assert_int_equal(m->hp.n_token_types, 2);
    assert_int_equal(m->hp.pooling, EMB_POOLING_MEAN);
    assert_int_equal(m->hp.pooling_in_file, 1);
    assert_true(m->hp.eps == 1e-12f);
    /* weights are views into the image, nothing copied */
    const uint8_t *lo = img, *hi = img + size;
    const emb_weight *ws[] = {&m->tok_embd, &m->pos_embd, &m->layers[1].ffn_down, &m->layers[0].attn_q_b};
    for (size_t i = 0; i < 4; i++) {
        assert_true((const uint8_t *)ws[i]->data >= lo && (const uint8_t *)ws[i]->data < hi);
    }
    assert_int_equal(m->layers[1].ffn_down.type, GGML_TYPE_F16);
    assert_int_equal(m->layers[1].ffn_down.ne0, 128);
    assert_int_equal(m->layers[1].ffn_down.ne1, 64);
    assert_int_equal(m->layers[1].ffn_down.row_bytes, 256);
    assert_null(m->layers[0].attn_qkv.data);
    assert_null(m->layers[0].ffn_gate.data);
    emb_model_destroy(m);
    free(img);
}

static void test_valid_nomic(void **state)
{
    (void)state;
    tiny_model_spec s = tiny_model_default(EMB_ARCH_NOMIC_BERT, GGML_TYPE_Q8_0);
    uint8_t *img = NULL;
    emb_error err;
    emb_error_clear(&err);
    emb_model *m = tiny_model_load(&s, &img, &err);
    if (!m)
        fail_msg("%s", err.msg);
    assert_int_equal(m->hp.arch, EMB_ARCH_NOMIC_BERT);
    assert_true(m->hp.rope_freq_base == 1000.0f);
    assert_true(m->hp.rope_freq_scale == 1.0f);
    assert_int_equal(m->hp.n_rot, 16);
    assert_null(m->pos_embd.data);
    assert_non_null(m->layers[1].attn_qkv.data);
    assert_int_equal(m->layers[1].attn_qkv.ne1, 192);
    assert_non_null(m->layers[1].ffn_gate.data);
    assert_null(m->layers[1].attn_q.data);
    assert_null(m->layers[1].ffn_up_b.data);
    emb_model_destroy(m);
    free(img);
}

/* Any computable type in any position: 1-D tensors and embeddings too. */
static void test_mixed_types_load(void **state)
{
    (void)state;
    tiny_model_spec s = tiny_model_default(EMB_ARCH_BERT, GGML_TYPE_Q4_1);
    s.embd_type = GGML_TYPE_BF16;
    s.vec_type = GGML_TYPE_F16;
    uint8_t *img = NULL;
    emb_error err;
    emb_model *m = tiny_model_load(&s, &img, &err);
    if (!m)
        fail_msg("%s", err.msg);
    assert_int_equal(m->embd_norm.type, GGML_TYPE_F16);
    assert_int_equal(m->tok_types.type, GGML_TYPE_BF16);
    emb_model_destroy(m);
    free(img);
}

static void test_nomic_rope_base_default(void **state)
{
    (void)state;
    tiny_model_spec s = tiny_model_default(EMB_ARCH_NOMIC_BERT, GGML_TYPE_F32);
    s.rope_base = 0; /* key absent */
    uint8_t *img = NULL;
    emb_error err;
    emb_model *m = tiny_model_load(&s, &img, &err);
    if (!m)
        fail_msg("%s", err.msg);
    assert_true(m->hp.rope_freq_base == 10000.0f);
    emb_model_destroy(m);
    free(img);
}

static void test_bert_without_pooling_key(void **state)
{
    (void)state;
    tiny_model_spec s = tiny_model_default(EMB_ARCH_BERT, GGML_TYPE_F32);
    s.pooling = -1;
    uint8_t *img = NULL;
    emb_error err;
    emb_model *m = tiny_model_load(&s, &img, &err);
    if (!m)
        fail_msg("%s", err.msg);
    assert_int_equal(m->hp.pooling, EMB_POOLING_NONE);
    assert_int_equal(m->hp.pooling_in_file, 0);
    emb_model_destroy(m);
    free(img);
}

/* sentence-transformers' max_seq_length becomes the default max_tokens; a file
 * without it keeps the context length. */
static void test_max_seq_length(void **state)
{
    (void)state;
    tiny_model_spec s = tiny_model_default(EMB_ARCH_BERT, GGML_TYPE_F32);
    uint8_t *img = NULL;
    emb_error err;
    emb_model *m = tiny_model_load(&s, &img, &err);
    if (!m)
        fail_msg("%s", err.msg);
    assert_int_equal(m->hp.max_seq_length, 0);
    assert_int_equal(emb_hparams_default_max_tokens(&m->hp), 32);
    emb_model_destroy(m);
    free(img);

    s.max_seq_length = 16;
    m = tiny_model_load(&s, &img, &err);
    if (!m)
        fail_msg("%s", err.msg);
    assert_int_equal(m->hp.max_seq_length, 16);
    assert_int_equal(emb_hparams_default_max_tokens(&m->hp), 16);
    emb_model_destroy(m);
    free(img);

    /* nomic may declare more than its training context (RoPE has no table) */
    s = tiny_model_default(EMB_ARCH_NOMIC_BERT, GGML_TYPE_F32);
    s.max_seq_length = 64;
    m = tiny_model_load(&s, &img, &err);
    if (!m)
        fail_msg("%s", err.msg);
    assert_int_equal(emb_hparams_default_max_tokens(&m->hp), 64);
    emb_model_destroy(m);
    free(img);
}

static void test_per_layer_ff_array_uniform(void **state)
{
    (void)state;
    tiny_model_spec s = tiny_model_default(EMB_ARCH_BERT, GGML_TYPE_F32);
    s.ff_array = true;
    uint8_t *img = NULL;
    emb_error err;
    emb_model *m = tiny_model_load(&s, &img, &err);
    if (!m)
        fail_msg("%s", err.msg);
    assert_int_equal(m->hp.n_ff, 128);
    emb_model_destroy(m);
    free(img);
}

/* ---- one failure kind per case ----------------------------------------------- */

static void test_max_seq_length_out_of_range(void **state)
{
    (void)state;
    tiny_model_spec s = tiny_model_default(EMB_ARCH_BERT, GGML_TYPE_F32);
    s.max_seq_length = 1;
    expect_fail(&s, EMB_ERR_MODEL,
                "model: tiny.gguf: 'sentence_transformers.max_seq_length' is 1, expected at least 2 "
                "([CLS] and [SEP])");
    s.max_seq_length = 33;
    expect_fail(&s, EMB_ERR_MODEL,
                "model: tiny.gguf: 'sentence_transformers.max_seq_length' is 33, more than the 32 "
                "learned positions of this bert model");
}

static void test_missing_tensor(void **state)
{
    (void)state;
    tiny_model_spec s = tiny_model_default(EMB_ARCH_BERT, GGML_TYPE_F32);
    s.omit_tensor = "blk.1.ffn_down.weight";
    expect_fail(&s, EMB_ERR_MODEL, "model: tiny.gguf: missing tensor 'blk.1.ffn_down.weight'");
}

static void test_missing_bias(void **state)
{
    (void)state;
    tiny_model_spec s = tiny_model_default(EMB_ARCH_BERT, GGML_TYPE_F32);
    s.omit_tensor = "blk.0.attn_k.bias";
    expect_fail(&s, EMB_ERR_MODEL, "model: tiny.gguf: missing tensor 'blk.0.attn_k.bias'");
}

static void test_nomic_missing_gate(void **state)
{
    (void)state;
    tiny_model_spec s = tiny_model_default(EMB_ARCH_NOMIC_BERT, GGML_TYPE_F32);
    s.omit_tensor = "blk.0.ffn_gate.weight";
    expect_fail(&s, EMB_ERR_MODEL, "model: tiny.gguf: missing tensor 'blk.0.ffn_gate.weight'");
}

static void test_wrong_shape_matrix(void **state)
{
    (void)state;
    tiny_model_spec s = tiny_model_default(EMB_ARCH_BERT, GGML_TYPE_F32);
    s.reshape_tensor = "blk.1.ffn_up.weight";
    s.reshape_ne1 = 96;
    expect_fail(&s, EMB_ERR_MODEL,
                "model: tiny.gguf: tensor 'blk.1.ffn_up.weight': got [64, 96], expected [64, 128]");
}

static void test_wrong_shape_vector(void **state)
{
    (void)state;
    tiny_model_spec s = tiny_model_default(EMB_ARCH_NOMIC_BERT, GGML_TYPE_F32);
    s.reshape_tensor = "token_embd_norm.bias";
    s.reshape_ne1 = 32;
    expect_fail(&s, EMB_ERR_MODEL,
                "model: tiny.gguf: tensor 'token_embd_norm.bias': got [32], expected [64]");
}

static void test_wrong_shape_positions(void **state)
{
    (void)state;
    tiny_model_spec s = tiny_model_default(EMB_ARCH_BERT, GGML_TYPE_F32);
    s.reshape_tensor = "position_embd.weight";
    s.reshape_ne1 = 16;
    expect_fail(&s, EMB_ERR_MODEL,
                "model: tiny.gguf: tensor 'position_embd.weight': got [64, 16], expected [64, 32]");
}

static void test_wrong_shape_qkv(void **state)
{
    (void)state;
    tiny_model_spec s = tiny_model_default(EMB_ARCH_NOMIC_BERT, GGML_TYPE_F32);
    s.reshape_tensor = "blk.0.attn_qkv.weight";
    s.reshape_ne1 = 128;
    expect_fail(&s, EMB_ERR_MODEL,
                "model: tiny.gguf: tensor 'blk.0.attn_qkv.weight': got [64, 128], expected [64, 192]");
}

static void test_unsupported_type(void **state)
{
    (void)state;
    tiny_model_spec s = tiny_model_default(EMB_ARCH_BERT, GGML_TYPE_Q4_K); /* 256-wide rows */
    s.retype_tensor = "blk.0.attn_q.weight";
    s.retype = GGML_TYPE_IQ2_XXS;
    expect_fail(&s, EMB_ERR_UNSUPPORTED,
                "model: tiny.gguf: tensor 'blk.0.attn_q.weight' has type IQ2_XXS, which cannot be "
                "computed (supported: F32 F16 BF16 Q4_0 Q4_1 Q5_0 Q5_1 Q8_0 Q2_K..Q6_K IQ4_NL IQ4_XS)");
}

static void test_unsupported_type_in_vector(void **state)
{
    (void)state;
    tiny_model_spec s = tiny_model_default(EMB_ARCH_BERT, GGML_TYPE_F32);
    s.retype_tensor = "blk.1.layer_output_norm.bias";
    s.retype = GGML_TYPE_I32;
    expect_fail(&s, EMB_ERR_UNSUPPORTED,
                "model: tiny.gguf: tensor 'blk.1.layer_output_norm.bias' has type I32, which cannot "
                "be computed (supported: F32 F16 BF16 Q4_0 Q4_1 Q5_0 Q5_1 Q8_0 Q2_K..Q6_K IQ4_NL "
                "IQ4_XS)");
}

static void test_wrong_architecture(void **state)
{
    (void)state;
    tiny_model_spec s = tiny_model_default(EMB_ARCH_BERT, GGML_TYPE_F32);
    s.arch_name = "llama";
    expect_fail(&s, EMB_ERR_UNSUPPORTED,
                "model: tiny.gguf: architecture 'llama' is not supported (expected 'bert' or "
                "'nomic-bert')");
}

static void test_missing_architecture(void **state)
{
    (void)state;
    tiny_model_spec s = tiny_model_default(EMB_ARCH_BERT, GGML_TYPE_F32);
    s.omit_key = "general.architecture";
    expect_fail(&s, EMB_ERR_MODEL, "model: tiny.gguf: missing key 'general.architecture'");
}

static void test_missing_hparam(void **state)
{
    (void)state;
    tiny_model_spec s = tiny_model_default(EMB_ARCH_BERT, GGML_TYPE_F32);
    s.omit_key = "bert.embedding_length";
    expect_fail(&s, EMB_ERR_MODEL, "model: tiny.gguf: missing hyper-parameter 'bert.embedding_length'");
}

static void test_missing_eps(void **state)
{
    (void)state;
    tiny_model_spec s = tiny_model_default(EMB_ARCH_NOMIC_BERT, GGML_TYPE_F32);
    s.omit_key = "nomic-bert.attention.layer_norm_epsilon";
    expect_fail(&s, EMB_ERR_MODEL,
                "model: tiny.gguf: missing hyper-parameter 'nomic-bert.attention.layer_norm_epsilon'");
}

static void test_nomic_missing_pooling(void **state)
{
    (void)state;
    tiny_model_spec s = tiny_model_default(EMB_ARCH_NOMIC_BERT, GGML_TYPE_F32);
    s.pooling = -1;
    expect_fail(&s, EMB_ERR_MODEL, "model: tiny.gguf: missing hyper-parameter 'nomic-bert.pooling_type'");
}

static void test_rank_pooling(void **state)
{
    (void)state;
    tiny_model_spec s = tiny_model_default(EMB_ARCH_BERT, GGML_TYPE_F32);
    s.pooling = 4;
    expect_fail(&s, EMB_ERR_UNSUPPORTED,
                "model: tiny.gguf: 'bert.pooling_type' is 4 (rank, a reranker head), which is not "
                "supported");
}

static void test_per_layer_ff_array_varies(void **state)
{
    (void)state;
    tiny_model_spec s = tiny_model_default(EMB_ARCH_BERT, GGML_TYPE_F32);
    s.ff_array = true;
    s.ff_array_layer1 = 256;
    expect_fail(&s, EMB_ERR_UNSUPPORTED,
                "model: tiny.gguf: 'bert.feed_forward_length' differs between layers (128 at layer 0, "
                "256 at layer 1); only uniform layers are supported");
}

static void test_missing_tokenizer(void **state)
{
    (void)state;
    tiny_model_spec s = tiny_model_default(EMB_ARCH_BERT, GGML_TYPE_F32);
    s.omit_key = "tokenizer.ggml.model";
    expect_fail(&s, EMB_ERR_MODEL,
                "tokenizer: tiny.gguf: key tokenizer.ggml.model is missing, expected \"bert\"");
}

static void test_missing_vocabulary(void **state)
{
    (void)state;
    tiny_model_spec s = tiny_model_default(EMB_ARCH_BERT, GGML_TYPE_F32);
    s.omit_key = "tokenizer.ggml.tokens";
    expect_fail(&s, EMB_ERR_MODEL,
                "tokenizer: tiny.gguf: key tokenizer.ggml.tokens is missing");
}

static void test_vocab_rows_mismatch(void **state)
{
    (void)state;
    tiny_model_spec s = tiny_model_default(EMB_ARCH_BERT, GGML_TYPE_F32);
    s.extra_embd_rows = 6;
    char msg[256];
    snprintf(msg, sizeof msg,
             "model: tiny.gguf: tensor 'token_embd.weight' has %zu rows but the tokenizer has %zu "
             "tokens",
             tiny_model_vocab_size() + 6, tiny_model_vocab_size());
    expect_fail(&s, EMB_ERR_MODEL, msg);
}

/* ---- files ---------------------------------------------------------------------- */

static const char *source_dir(void)
{
    const char *d = getenv("EMBED_SOURCE_DIR");
    return d && *d ? d : ".";
}

static void test_vocab_only_file(void **state)
{
    (void)state;
    char path[1024];
    snprintf(path, sizeof path, "%s/tests/data/bert-vocab/ggml-vocab-bert-bge.gguf", source_dir());
    emb_error err;
    emb_error_clear(&err);
    emb_model *m = emb_model_load(path, &err);
    assert_null(m);
    assert_int_equal(err.code, EMB_ERR_MODEL);
    char want[2048];
    int n = snprintf(want, sizeof want,
                     "model: %s: the file has no tensors (a vocabulary-only gguf?): it cannot "
                     "compute embeddings",
                     path);
    assert_true(n > 0 && (size_t)n < sizeof want);
    want[EMB_ERROR_MSG_MAX - 1] = '\0'; /* messages are cut at the struct's size */
    assert_string_equal(err.msg, want);
    /* probe says the same */
    emb_model_info info;
    emb_error_clear(&err);
    assert_int_equal(emb_model_probe(path, &info, &err), EMB_ERR_MODEL);
    assert_string_equal(err.msg, want);
}

static void test_probe(void **state)
{
    (void)state;
    tiny_model_spec s = tiny_model_default(EMB_ARCH_NOMIC_BERT, GGML_TYPE_F16);
    size_t size;
    uint8_t *img = tiny_model_build(&s, &size);
    assert_non_null(img);
    char path[] = "/tmp/test_model_probe_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    assert_true(gguf_write_file(path, img, size));
    free(img);

    emb_model_info info;
    memset(&info, 0xab, sizeof info);
    emb_error err;
    emb_error_clear(&err);
    assert_int_equal(emb_model_probe(path, &info, &err), EMB_OK);
    assert_string_equal(info.arch_name, "nomic-bert");
    assert_int_equal(info.hp.n_embd, 64);
    assert_int_equal(info.hp.n_vocab, tiny_model_vocab_size());
    assert_int_equal(info.file_size, size);
    unlink(path);

    /* missing file: the reader's io error, info untouched */
    emb_model_info before = info;
    assert_int_equal(emb_model_probe(path, &info, &err), EMB_ERR_IO);
    assert_memory_equal(&before, &info, sizeof info);
}

static void test_names(void **state)
{
    (void)state;
    assert_string_equal(emb_arch_name(EMB_ARCH_BERT), "bert");
    assert_string_equal(emb_arch_name(EMB_ARCH_NOMIC_BERT), "nomic-bert");
    assert_string_equal(emb_pooling_name(EMB_POOLING_NONE), "none");
    assert_string_equal(emb_pooling_name(EMB_POOLING_MEAN), "mean");
    assert_string_equal(emb_pooling_name(EMB_POOLING_CLS), "cls");
    assert_string_equal(emb_pooling_name(EMB_POOLING_LAST), "last");
}

static void test_destroy_null(void **state)
{
    (void)state;
    emb_model_destroy(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_valid_bert),
        cmocka_unit_test(test_valid_nomic),
        cmocka_unit_test(test_mixed_types_load),
        cmocka_unit_test(test_nomic_rope_base_default),
        cmocka_unit_test(test_bert_without_pooling_key),
        cmocka_unit_test(test_max_seq_length),
        cmocka_unit_test(test_max_seq_length_out_of_range),
        cmocka_unit_test(test_per_layer_ff_array_uniform),
        cmocka_unit_test(test_missing_tensor),
        cmocka_unit_test(test_missing_bias),
        cmocka_unit_test(test_nomic_missing_gate),
        cmocka_unit_test(test_wrong_shape_matrix),
        cmocka_unit_test(test_wrong_shape_vector),
        cmocka_unit_test(test_wrong_shape_positions),
        cmocka_unit_test(test_wrong_shape_qkv),
        cmocka_unit_test(test_unsupported_type),
        cmocka_unit_test(test_unsupported_type_in_vector),
        cmocka_unit_test(test_wrong_architecture),
        cmocka_unit_test(test_missing_architecture),
        cmocka_unit_test(test_missing_hparam),
        cmocka_unit_test(test_missing_eps),
        cmocka_unit_test(test_nomic_missing_pooling),
        cmocka_unit_test(test_rank_pooling),
        cmocka_unit_test(test_per_layer_ff_array_varies),
        cmocka_unit_test(test_missing_tokenizer),
        cmocka_unit_test(test_missing_vocabulary),
        cmocka_unit_test(test_vocab_rows_mismatch),
        cmocka_unit_test(test_vocab_only_file),
        cmocka_unit_test(test_probe),
        cmocka_unit_test(test_names),
        cmocka_unit_test(test_destroy_null),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

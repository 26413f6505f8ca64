use super::*;

fn secret32() -> Vec<u8> {
    (0u8..32)
        .map(|i| i.wrapping_mul(37).wrapping_add(11))
        .collect()
}

fn subsets(n: usize, k: usize) -> Vec<Vec<usize>> {
    if k == 0 {
        return vec![vec![]];
    }
    if n < k {
        return vec![];
    }
    let mut out = subsets(n - 1, k);
    for mut s in subsets(n - 1, k - 1) {
        s.push(n - 1);
        out.push(s);
    }
    out
}

fn pick(shares: &[SecretBytes], idx: &[usize]) -> Vec<SecretBytes> {
    idx.iter().map(|&i| shares[i].clone()).collect()
}

#[test]
fn five_of_three_every_threshold_subset_recovers() {
    let secret = secret32();
    let shares = split_secret(&secret, 5, 3).expect("split");
    assert_eq!(shares.len(), 5);
    assert!(shares.iter().all(|s| s.len() == 33));
    let xs: Vec<u8> = shares.iter().map(|s| s.expose()[0]).collect();
    assert!(xs.iter().all(|&x| x != 0));
    for k in 3..=5 {
        let sets = subsets(5, k);
        assert!(!sets.is_empty());
        for idx in sets {
            let got = combine_shares(&pick(&shares, &idx)).expect("combine");
            assert!(got.ct_eq(&secret), "subset {idx:?}");
        }
    }
}

#[test]
fn five_of_three_two_shares_do_not_recover() {
    let secret = secret32();
    let shares = split_secret(&secret, 5, 3).expect("split");
    let sets = subsets(5, 2);
    assert_eq!(sets.len(), 10);
    for idx in sets {
        let got = combine_shares(&pick(&shares, &idx)).expect("combine");
        assert_eq!(got.len(), secret.len());
        assert!(!got.ct_eq(&secret), "subset {idx:?}");
    }
}

#[test]
fn one_of_one_round_trips() {
    let secret = secret32();
    let shares = split_secret(&secret, 1, 1).expect("split");
    assert_eq!(shares.len(), 1);
    assert_eq!(shares[0].len(), 33);
    assert!(combine_shares(&shares).expect("combine").ct_eq(&secret));
}

#[test]
fn two_of_two_and_large_splits_round_trip() {
    let secret = secret32();
    for (n, t) in [(2u8, 2u8), (3, 2), (10, 10), (255, 2)] {
        let shares = split_secret(&secret, n, t).expect("split");
        assert_eq!(shares.len(), usize::from(n));
        let got = combine_shares(&shares[shares.len() - usize::from(t)..]).expect("combine");
        assert!(got.ct_eq(&secret), "{n}/{t}");
    }
}

#[test]
fn splits_are_randomized() {
    let secret = secret32();
    let a = split_secret(&secret, 3, 2).expect("split");
    let b = split_secret(&secret, 3, 2).expect("split");
    assert!(!a[0].ct_eq(b[0].expose()));
}

#[test]
fn bad_parameters_rejected() {
    let secret = secret32();
    for (n, t) in [(0u8, 0u8), (0, 1), (3, 0), (2, 3), (5, 1), (2, 1), (1, 2)] {
        assert!(
            matches!(
                split_secret(&secret, n, t),
                Err(CryptoError::InvalidShamirParameters(_))
            ),
            "{n}/{t}"
        );
    }
    assert!(matches!(
        split_secret(&[], 5, 3),
        Err(CryptoError::InvalidShamirParameters(_))
    ));
}

#[test]
fn bad_share_sets_rejected() {
    let shares = split_secret(&secret32(), 5, 3).expect("split");
    let is_invalid =
        |r: Result<SecretBytes, CryptoError>| matches!(r, Err(CryptoError::InvalidShares(_)));
    assert!(is_invalid(combine_shares(&[])));
    // Duplicate: the same share twice, and two different shares with the same x.
    assert!(is_invalid(combine_shares(&pick(&shares, &[0, 1, 1]))));
    let mut forged = shares[2].expose().to_vec();
    forged[0] = shares[0].expose()[0];
    assert!(is_invalid(combine_shares(&[
        shares[0].clone(),
        shares[1].clone(),
        SecretBytes::new(forged),
    ])));
    // Mismatched lengths.
    let short = SecretBytes::from_slice(&shares[2].expose()[..20]);
    assert!(is_invalid(combine_shares(&[
        shares[0].clone(),
        shares[1].clone(),
        short
    ])));
    // Too short to carry any secret byte, x = 0.
    assert!(is_invalid(combine_shares(&[SecretBytes::from_slice(&[1])])));
    assert!(is_invalid(combine_shares(&[SecretBytes::new(vec![])])));
    let mut zero_x = shares[2].expose().to_vec();
    zero_x[0] = 0;
    assert!(is_invalid(combine_shares(&[
        shares[0].clone(),
        shares[1].clone(),
        SecretBytes::new(zero_x),
    ])));
}

#[test]
fn share_debug_is_redacted() {
    let shares = split_secret(&secret32(), 3, 2).expect("split");
    assert_eq!(
        format!("{shares:?}"),
        "[[redacted], [redacted], [redacted]]"
    );
}

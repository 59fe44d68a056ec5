//! `serial:` rolling batches: a play runs on its hosts batch by batch, each batch to the end before
//! the next starts, so a patch that breaks the first hosts stops before it reaches the rest.
//! `max_fail_percentage:` says how many failed hosts a batch may have (Ansible's rule: more than
//! that percentage stops the play; without it, the play stops when every host of a batch failed).

use crate::playbook::Serial;

/// The batch sizes for `n` hosts: each `serial:` entry in turn, the last one repeating.
pub fn batches(serial: &[Serial], n: usize) -> Vec<usize> {
    if serial.is_empty() || n == 0 {
        return vec![n];
    }
    let size = |s: &Serial| match *s {
        Serial::Count(c) => (c as usize).max(1),
        Serial::Percent(p) => (n * p as usize / 100).max(1),
    };
    let mut out = Vec::new();
    let mut left = n;
    let mut i = 0;
    while left > 0 {
        let s = size(&serial[i.min(serial.len() - 1)]).min(left);
        out.push(s);
        left -= s;
        i += 1;
    }
    out
}

/// Whether a batch of `size` hosts with `failed` failures stops the play.
pub fn stops(failed: usize, size: usize, max_fail_percentage: Option<u8>) -> bool {
    if size == 0 {
        return false;
    }
    match max_fail_percentage {
        Some(max) => failed * 100 > usize::from(max) * size,
        None => failed == size,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches_as_ansible_makes_them() {
        use Serial::*;
        assert_eq!(batches(&[], 5), vec![5]);
        assert_eq!(batches(&[Count(2)], 5), vec![2, 2, 1]);
        assert_eq!(batches(&[Percent(30)], 10), vec![3, 3, 3, 1]);
        assert_eq!(batches(&[Percent(1)], 10), vec![1; 10], "at least one host");
        assert_eq!(
            batches(&[Count(1), Count(5), Percent(50)], 20),
            vec![1, 5, 10, 4]
        );
        assert!(stops(1, 4, Some(20)));
        assert!(!stops(1, 5, Some(20)));
        assert!(stops(1, 10, Some(0)));
        assert!(!stops(2, 3, None) && stops(3, 3, None));
    }
}
